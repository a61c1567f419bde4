"""Responses posted to the API reach the sandbox CRM through a real worker process.

Runs on the embedded defaults (SQLite + embedded Redis, HubSpot) and on production backends
(PostgreSQL + Redis, Salesforce), and checks: the CRM fields equal what the scoring core
computes; a re-run writes nothing; a changed response writes only the fields that changed;
each new detractor gets exactly one follow-up task; unknown people are listed as unmatched.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from connector.crm.field_changes import scorecard_field_values
from connector.crm.mapping import load_mapping
from connector.sample_data.generate import HERE as SAMPLE_DIR
from connector.scoring import EmployeeRating as RatingValue
from connector.scoring import ScoringConfig, SurveyResponse, account_scorecard, contact_scorecard
from connector.storage import SyncRun
from tests.pipeline.conftest import Pipeline, make_pipeline

DOMAINS = ("kessler-soehne.de", "vogelsang-bau.de")
UNKNOWN = "petra.unbekannt@gmx.de"
TASK_OBJECT = {"hubspot": "tasks", "salesforce": "Task"}


def sample(name: str) -> list[dict[str, Any]]:
    lines = (SAMPLE_DIR / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def chosen_responses() -> list[dict[str, Any]]:
    return [
        r
        for r in sample("responses.jsonl")
        if r.get("account_domain") in DOMAINS or r["email"] == UNKNOWN
    ]


def chosen_ratings(emails: set[str]) -> list[dict[str, Any]]:
    return [r for r in sample("ratings.jsonl") if r["email"] in emails]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def expected_cards(now: datetime) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The scoring core's own scorecards for the chosen sample, keyed by email / domain."""
    responses = chosen_responses()
    ratings = chosen_ratings({r["email"] for r in responses})
    by_email: dict[str, list[SurveyResponse]] = {}
    for r in responses:
        by_email.setdefault(r["email"], []).append(
            SurveyResponse(
                kind=r["kind"],
                score=r["score"],
                answered_at=_time(r["answered_at"]),
                received_at=_time(r["answered_at"]),
                comment=r.get("comment"),
                contact=r["email"],
                touchpoint=r.get("touchpoint"),
            )
        )
    rated: dict[str, list[RatingValue]] = {}
    for r in ratings:
        rated.setdefault(r["email"], []).append(
            RatingValue(
                employee=r["employee"],
                subject=r["email"],
                relationship=r["relationship"],
                potential=r["potential"],
                rated_at=_time(r["rated_at"]),
                received_at=_time(r["rated_at"]),
                comment=r.get("comment"),
            )
        )
    config = ScoringConfig()
    contacts = {
        e: contact_scorecard(rs, rated.get(e, []), now=now, config=config)
        for e, rs in by_email.items()
    }
    accounts = {}
    for domain in DOMAINS:
        members = {e: rs for e, rs in by_email.items() if e.endswith("@" + domain)}
        member_ratings = [x for e in members for x in rated.get(e, [])]
        accounts[domain] = account_scorecard(members, member_ratings, now=now, config=config)
    return contacts, accounts


def same(a: Any, b: Any) -> bool:
    """Equal as the CRM stores them: numbers as numbers, datetimes as instants."""
    try:
        return abs(float(a) - float(b)) < 1e-6
    except (TypeError, ValueError):
        pass
    if isinstance(a, str) and isinstance(b, str) and "T" in a and "T" in b:
        return _time(a) == _time(b)
    return str(a) == str(b)


def crm_values(pipeline: Pipeline, subject: str, key: str) -> dict[str, Any]:
    """A record's mapped fields as read back from the sandbox through the client library."""
    from connector.crm.types import RecordKey

    adapter = pipeline.adapter()
    mapping = load_mapping(pipeline.crm, pipeline.config).for_subject(subject)  # type: ignore[arg-type]
    if subject == "contact":
        ref = adapter.resolve_contacts([RecordKey(email=key)])[RecordKey(email=key)]
    else:
        ref = adapter.resolve_accounts([RecordKey(domain=key)])[RecordKey(domain=key)]
    fields = [f.field for f in mapping.written()]
    return adapter.read(subject, [ref.crm_id], fields)[ref.crm_id]  # type: ignore[arg-type]


def post_sample(pipeline: Pipeline, headers: dict[str, str]) -> None:
    client = pipeline.app.test_client()
    responses = chosen_responses()
    reply = client.post("/api/v1/responses", json={"responses": responses}, headers=headers)
    assert reply.status_code == 200, reply.json
    ratings = chosen_ratings({r["email"] for r in responses})
    reply = client.post("/api/v1/ratings", json={"ratings": ratings}, headers=headers)
    assert reply.status_code == 200, reply.json


def pending_outbox(pipeline: Pipeline) -> int:
    from connector.app import database
    from connector.sync.outbox import pending_count

    with database(pipeline.app).session() as session:
        return pending_count(session)


def write_calls(pipeline: Pipeline) -> int:
    counts = pipeline.sandbox.admin.stats()["endpoints"]
    writes = ("batch_update", "composite_sobjects.patch", "bulk", "tasks", "Task")
    return sum(n for key, n in counts.items() if any(w in key for w in writes))


# HubSpot on the embedded defaults, Salesforce on PostgreSQL + Redis.
CRMS_AND_BACKENDS = pytest.mark.parametrize(
    ("crm", "backend"),
    [
        ("hubspot", "embedded"),
        pytest.param("salesforce", "production", marks=pytest.mark.postgres),
    ],
)


def pushed_sample(crm: str, backend: str, sandbox: Any, request: pytest.FixtureRequest) -> Pipeline:
    """cx360 installed in the sandbox, a worker running, the sample posted and pushed."""
    pipeline = make_pipeline(crm, backend, sandbox, request)
    pipeline.install()
    pipeline.start_worker()
    post_sample(pipeline, pipeline.headers("ingest"))
    pipeline.wait_for(lambda: pending_outbox(pipeline) == 0, what="the outbox to drain")
    return pipeline


@pytest.mark.integration
@CRMS_AND_BACKENDS
def test_given_posted_responses_when_worker_pushes_then_crm_holds_the_scoring_core_values(
    sandbox: Any, request: pytest.FixtureRequest, crm: str, backend: str
):
    pipeline = pushed_sample(crm, backend, sandbox, request)

    now = datetime.now(UTC)
    contacts, accounts = expected_cards(now)
    mapping = load_mapping(crm, pipeline.config)
    for email, card in contacts.items():
        if email == UNKNOWN:
            continue
        expected = scorecard_field_values(card, mapping.contact)
        actual = crm_values(pipeline, "contact", email)
        assert expected, email
        for field, value in expected.items():
            assert same(actual.get(field), value), (email, field, actual.get(field), value)
    for domain, card in accounts.items():
        expected = scorecard_field_values(card, mapping.account)
        actual = crm_values(pipeline, "account", domain)
        for field, value in expected.items():
            assert same(actual.get(field), value), (domain, field, actual.get(field), value)

    # every contact whose latest category is detractor has exactly one task
    detractors = sum(
        1 for e, c in contacts.items() if e != UNKNOWN and c["nps.category"] == "detractor"
    )
    tasks = pipeline.sandbox.admin.records(crm, TASK_OBJECT[crm])
    assert detractors > 0
    assert len(tasks) == detractors

    # the unknown person is kept and listed as unmatched
    listed = pipeline.app.test_client().get("/api/v1/unmatched", headers=pipeline.headers("read"))
    assert [row["key"] for row in listed.json if row["subject"] == "contact"] == [UNKNOWN]

    # a re-run (identical resend) writes nothing
    before = write_calls(pipeline)
    post_sample(pipeline, pipeline.headers("ingest"))
    pipeline.wait_for(lambda: pending_outbox(pipeline) == 0, what="the resend to be relayed")
    assert write_calls(pipeline) == before
    assert len(pipeline.sandbox.admin.records(crm, TASK_OBJECT[crm])) == detractors


@pytest.mark.integration
@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_changed_comment_when_pushed_then_only_that_field_is_written(
    sandbox: Any, request: pytest.FixtureRequest, crm: str
):
    """In process (no worker): the plan of a changed response names only the changed field."""
    pipeline = make_pipeline(crm, "embedded", sandbox, request)
    pipeline.install()
    headers = pipeline.headers("ingest")
    post_sample(pipeline, headers)
    admin = pipeline.headers("admin")
    client = pipeline.app.test_client()
    # no worker here: push with the synchronous CLI/API path
    from tests.pipeline.test_end_to_end import run_sync_now

    first = run_sync_now(pipeline)
    assert first["written"] > 0 and first["status"] in ("succeeded", "partial")
    latest = max(
        (
            r
            for r in chosen_responses()
            if r["kind"] == "nps" and r.get("account_domain") == DOMAINS[0]
        ),
        key=lambda r: r["answered_at"],
    )
    changed = {**latest, "comment": "Nachtrag: Rückruf kam schnell."}
    assert client.post("/api/v1/responses", json=changed, headers=headers).status_code == 200
    plan = client.post("/api/v1/syncs", json={"dry_run": True}, headers=admin).json
    assert plan["plan"] is not None
    changed_records = [p for p in plan["plan"] if p["subject"] == "contact"]
    comment_field = load_mapping(crm, pipeline.config).contact.by_metric()["nps.comment"].field
    assert [list(p["changes"]) for p in changed_records] == [[comment_field]]
    second = run_sync_now(pipeline)
    assert second["written"] >= 1
    assert crm_values(pipeline, "contact", latest["email"])[comment_field] == changed["comment"]
    third = run_sync_now(pipeline)
    assert third["written"] == 0


def run_sync_now(pipeline: Pipeline, *, full: bool = False) -> dict[str, Any]:
    from connector.app import database
    from connector.sync.runs import run_requested_sync

    with pipeline.app.app_context():
        with database(pipeline.app).session() as session:
            run = SyncRun(trigger="cli", status="queued", full=full)
            session.add(run)
        return run_requested_sync(run.id)
