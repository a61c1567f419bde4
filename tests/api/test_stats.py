"""GET /api/v1/stats/nps: per-week NPS with N and margin of error, and the whole window."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient


def _nps(email: str, score: int, when: str, touchpoint: str = "support") -> dict[str, object]:
    return {
        "kind": "nps",
        "score": score,
        "email": email,
        "answered_at": when,
        "account_domain": "example.com",
        "touchpoint": touchpoint,
    }


def test_given_responses_in_two_weeks_when_asking_weekly_then_each_week_and_window_computed(
    client: FlaskClient, ingest_headers: dict[str, str], read_headers: dict[str, str]
):
    items = [
        # week of Mon 2026-11-02: a promoter, a detractor, a passive -> NPS 0.0, N 3
        _nps("a@example.com", 10, "2026-11-02T09:00:00Z"),
        _nps("b@example.com", 2, "2026-11-03T09:00:00Z"),
        _nps("c@example.com", 8, "2026-11-04T09:00:00Z"),
        # week of Mon 2026-11-09: a answers again (9), d promoter -> NPS 100.0, N 2
        _nps("a@example.com", 9, "2026-11-10T09:00:00Z"),
        _nps("d@example.com", 9, "2026-11-11T09:00:00Z", touchpoint="renewal"),
    ]
    assert (
        client.post(
            "/api/v1/responses", json={"responses": items}, headers=ingest_headers
        ).status_code
        == 200
    )
    reply = client.get(
        "/api/v1/stats/nps?from=2026-11-02T00:00:00Z&to=2026-11-16T00:00:00Z&interval=week",
        headers=read_headers,
    )
    assert reply.status_code == 200, reply.json
    weeks = reply.json["buckets"]
    assert [(w["n"], w["nps"]) for w in weeks] == [(3, 0.0), (2, 100.0)]
    # MoE week 1: P=1/3, D=1/3 -> 1.96*100*sqrt((2/3 - 0)/3) = 92.4
    assert weeks[0]["moe"] == 92.4
    # whole window, latest per contact: a 9, b 2, c 8, d 9 -> (2 - 1) / 4 = 25.0
    assert (reply.json["window"]["n"], reply.json["window"]["nps"]) == (4, 25.0)
    only_renewal = client.get(
        "/api/v1/stats/nps?from=2026-11-02T00:00:00Z&to=2026-11-16T00:00:00Z&touchpoint=renewal",
        headers=read_headers,
    ).json
    assert only_renewal["window"]["n"] == 1


def test_given_from_after_to_when_asking_then_422_names_from(
    client: FlaskClient, read_headers: dict[str, str]
):
    reply = client.get(
        "/api/v1/stats/nps?from=2026-11-10T00:00:00Z&to=2026-11-01T00:00:00Z", headers=read_headers
    )
    assert reply.status_code == 422
    assert "from" in reply.json["errors"]["query"]


def test_given_unknown_account_when_asking_then_404(
    client: FlaskClient, read_headers: dict[str, str]
):
    reply = client.get("/api/v1/stats/nps?account=nowhere.example", headers=read_headers)
    assert reply.status_code == 404


def test_given_a_range_of_more_than_1000_buckets_when_asking_then_422_names_from_at_once(
    client: FlaskClient, read_headers: dict[str, str]
):
    # 200 years by day would be 73,000 buckets and a 10 MB reply built in seconds
    reply = client.get(
        "/api/v1/stats/nps?from=1900-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&interval=day",
        headers=read_headers,
    )
    assert reply.status_code == 422
    (reason,) = reply.json["errors"]["query"]["from"]
    assert "up to 73,051 day buckets; at most 1,000" in reason
    # the same range by month is 2,400 buckets: refused too; 80 years by month is not
    by_month = client.get(
        "/api/v1/stats/nps?from=1900-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&interval=month",
        headers=read_headers,
    )
    assert by_month.status_code == 422
    eighty_years = client.get(
        "/api/v1/stats/nps?from=1946-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&interval=month",
        headers=read_headers,
    )
    assert eighty_years.status_code == 200, eighty_years.json
    assert len(eighty_years.json["buckets"]) == 80 * 12


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=0001-01-01T00:00:00Z&to=0001-02-01T00:00:00Z", "to"),
        ("from=1850-01-01T00:00:00Z&to=1850-02-01T00:00:00Z", "to"),
        ("from=1899-12-01T00:00:00Z&to=1900-02-01T00:00:00Z", "from"),
        # a month before the end of Python's dates: once a 500 (OverflowError)
        ("from=9999-11-01T00:00:00Z&to=9999-12-30T00:00:00Z&interval=month", "to"),
    ],
)
def test_given_a_date_outside_the_calendar_bounds_when_asking_then_422_names_it(
    client: FlaskClient, read_headers: dict[str, str], query: str, field: str
):
    reply = client.get(f"/api/v1/stats/nps?{query}", headers=read_headers)
    assert reply.status_code == 422, reply.json
    assert reply.json["errors"]["query"] == {field: ["Outside 1900-01-01..9000-01-01."]}
