"""Weeks on the business's calendar (CX360_TIMEZONE): the dashboard and the stats API agree.

An answer at Monday 00:30 in Berlin is Sunday 23:30 UTC; for a Berlin business it belongs to
the week that starts that Monday, on the dashboard, in the weekly summary and in the API.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connector.app import database
from connector.scoring import ScoringConfig
from connector.web.dashboard import build_weekly_summary
from crm_sandbox import SandboxServer
from tests.conftest import make_test_app
from tests.web.conftest import plain_key, sign_in, sign_in_config
from tests.web.test_pages import _WEEK_ROW

ANSWERS = [
    ("berlin-1", "anna@kunde.example", 0, "2026-11-11T10:00:00+01:00"),  # Wed, week of 9 Nov
    ("berlin-2", "ben@kunde.example", 10, "2026-11-16T00:30:00+01:00"),  # Mon, week of 16 Nov
]


@pytest.fixture
def app(database_url: str, tmp_path: Path, idp: SandboxServer) -> Iterator[Flask]:
    yield from make_test_app(
        database_url, tmp_path, CX360_TIMEZONE="Europe/Berlin", **sign_in_config(idp)
    )


def test_given_berlin_business_when_range_starts_mid_week_then_weeks_follow_berlin_calendar(
    app: Flask, client: FlaskClient
) -> None:
    ingest, read = plain_key(app, "ingest"), plain_key(app, "read")
    for external_id, email, score, answered_at in ANSWERS:
        body = {"source": "weeks-test", "external_id": external_id, "kind": "nps",
                "score": score, "email": email, "answered_at": answered_at}  # fmt: skip
        reply = client.post(
            "/api/v1/responses", json=body, headers={"Authorization": f"Bearer {ingest}"}
        )
        assert reply.status_code == 200, reply.json

    berlin_range = {"from": "2026-11-11T00:00:00+01:00", "to": "2026-11-22T23:59:59+01:00"}
    reader = {"Authorization": f"Bearer {read}"}
    api = client.get("/api/v1/stats/nps", query_string=berlin_range, headers=reader).json
    starts_and_counts = [(b["start"][:10], b["n"], b["nps"]) for b in api["buckets"]]
    assert starts_and_counts == [("2026-11-09", 1, -100.0), ("2026-11-16", 1, 100.0)]

    sign_in(client, read)
    html = client.get("/", query_string={"from": "2026-11-11", "to": "2026-11-22"})
    rows = _WEEK_ROW.findall(html.get_data(as_text=True))
    assert [(label, int(n)) for label, _, n in rows] == [("9 Nov 2026", 1), ("16 Nov 2026", 1)]

    with app.app_context(), database(app).session() as session:
        config = ScoringConfig.from_config(app.config)
        summary = build_weekly_summary(session, date(2026, 11, 18), config)
        assert summary.week_start.date() == date(2026, 11, 16)
        assert (summary.this_week.n, summary.previous_week.n) == (1, 1)
