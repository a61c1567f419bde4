"""DELETE /api/v1/people/{email}: the person's data goes, the CRM follows, roll-ups change.

Runs in process against the sandbox (no worker): sample data is pushed once, then one
customer contact is erased, and the CRM record, the account's roll-up in the CRM and cx360's
tables are checked.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from connector.app import database
from connector.crm.field_changes import scorecard_field_values
from connector.crm.mapping import load_mapping
from connector.storage import Contact, EmployeeRating, FollowUp, OutboxItem, Response, Scorecard
from tests.pipeline.conftest import Pipeline, make_pipeline
from tests.pipeline.test_end_to_end import (
    DOMAINS,
    chosen_responses,
    crm_values,
    post_sample,
    run_sync_now,
    same,
)


def _rows(pipeline: Pipeline, model: Any, *where: Any) -> int:
    with database(pipeline.app).session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _person(domain: str) -> str:
    """A contact of the account with an NPS response, and an employee rating when there is one."""
    emails = [r["email"] for r in chosen_responses() if r.get("account_domain") == domain]
    return sorted(set(emails))[0]


def _account_card(pipeline: Pipeline, domain: str, headers: dict[str, str]) -> dict[str, Any]:
    reply = pipeline.app.test_client().get(f"/api/v1/accounts/{domain}/scorecard", headers=headers)
    assert reply.status_code == 200, reply.json
    return dict(reply.json["metrics"])


@pytest.mark.integration
@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_pushed_person_when_erased_then_data_crm_fields_and_rollup_follow(
    sandbox: Any, request: pytest.FixtureRequest, crm: str
):
    pipeline = make_pipeline(crm, "embedded", sandbox, request)
    pipeline.install()
    post_sample(pipeline, pipeline.headers("ingest"))
    assert run_sync_now(pipeline)["written"] > 0
    domain = DOMAINS[0]
    email = _person(domain)
    read = pipeline.headers("read")
    before = _account_card(pipeline, domain, read)
    mapping = load_mapping(crm, pipeline.config)
    contact_fields = [f.field for f in mapping.contact.written()]
    assert any(crm_values(pipeline, "contact", email).get(f) not in (None, "")
               for f in contact_fields)  # fmt: skip
    with database(pipeline.app).session() as session:
        contact_id = session.scalar(select(Contact.id).where(Contact.email == email))
    assert _rows(pipeline, Response, Response.contact_id == contact_id) > 0

    client = pipeline.app.test_client()
    reply = client.delete(f"/api/v1/people/{email.upper()}", headers=pipeline.headers("admin"))

    assert reply.status_code == 200, reply.json
    assert reply.json["responses"] > 0
    assert reply.json["crm_outcome"] == "cleared"
    assert reply.json["accounts_updated"] == 1
    # the CRM record keeps no cx360 value
    cleared = crm_values(pipeline, "contact", email)
    assert all(cleared.get(f) in (None, "") for f in contact_fields), cleared
    # nothing of the person stays in cx360's tables
    assert _rows(pipeline, Contact, Contact.email == email) == 0
    for model, column in ((Response, Response.contact_id), (EmployeeRating,
                          EmployeeRating.contact_id), (FollowUp, FollowUp.contact_id)):  # fmt: skip
        assert _rows(pipeline, model, column == contact_id) == 0, model
    assert _rows(pipeline, Scorecard, Scorecard.subject_type == "contact",
                 Scorecard.subject_id == contact_id) == 0  # fmt: skip
    assert _rows(pipeline, OutboxItem, OutboxItem.subject_type == "contact",
                 OutboxItem.subject_id == contact_id) == 0  # fmt: skip
    # the account roll-up lost the person, in cx360 and in the CRM
    after = _account_card(pipeline, domain, read)
    assert after["nps.responses"] == before["nps.responses"] - 1
    expected = scorecard_field_values(after, mapping.account)
    actual = crm_values(pipeline, "account", domain)
    for field_name in (f.field for f in mapping.account.written()):
        if field_name in expected:
            assert same(actual.get(field_name), expected[field_name]), field_name
        else:
            assert actual.get(field_name) in (None, ""), field_name
    # the next push changes nothing
    assert run_sync_now(pipeline)["written"] == 0

    # idempotent: nothing is left to erase
    again = client.delete(f"/api/v1/people/{email}", headers=pipeline.headers("admin"))
    assert again.status_code == 404


@pytest.mark.integration
def test_given_employee_email_when_erased_then_their_ratings_go_and_rated_scores_follow(
    sandbox: Any, request: pytest.FixtureRequest
):
    pipeline = make_pipeline("hubspot", "embedded", sandbox, request)
    pipeline.install()
    post_sample(pipeline, pipeline.headers("ingest"))
    run_sync_now(pipeline)
    with database(pipeline.app).session() as session:
        employee = session.scalar(select(EmployeeRating.employee).limit(1))
        rated = _rows(pipeline, EmployeeRating, EmployeeRating.employee == employee)
    assert employee and rated > 0

    reply = pipeline.app.test_client().delete(
        f"/api/v1/people/{employee}", headers=pipeline.headers("admin")
    )

    assert reply.status_code == 200, reply.json
    assert reply.json["ratings_by_person"] == rated
    assert reply.json["crm_outcome"] == "not_in_crm"
    assert _rows(pipeline, EmployeeRating, EmployeeRating.employee == employee) == 0
    assert run_sync_now(pipeline)["written"] == 0  # the CRM already holds the new values


@pytest.mark.integration
def test_given_unknown_email_or_wrong_scope_when_erasing_then_404_and_403(
    sandbox: Any, request: pytest.FixtureRequest
):
    pipeline = make_pipeline("hubspot", "embedded", sandbox, request)
    client = pipeline.app.test_client()

    unknown = client.delete("/api/v1/people/nobody@example.com", headers=pipeline.headers("admin"))
    wrong = client.delete("/api/v1/people/nobody@example.com", headers=pipeline.headers("read"))

    assert unknown.status_code == 404
    assert wrong.status_code == 403
