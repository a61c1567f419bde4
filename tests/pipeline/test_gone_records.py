"""Deleted and re-created CRM records: the write refused because the record is gone drops the
id and finds the person again by email in the same push; never an endless rejection.

What the CRMs answer for a gone record: HubSpot batch update ``OBJECT_NOT_FOUND`` ("Could not
get some contact objects, they may be deleted or not exist", developers.hubspot.com/docs/
api-reference/crm-contacts-v3/batch/post-crm-v3-objects-contacts-batch-update); Salesforce
``ENTITY_IS_DELETED`` for a deleted (or merged-away) record and ``INVALID_CROSS_REFERENCE_KEY``
for an id it does not know (developer.salesforce.com/docs/atlas.en-us.api.meta/api/
sforce_api_calls_concepts_core_data_objects.htm, "StatusCode").
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from connector.app import database
from connector.storage import Contact, Scorecard
from crm_sandbox import SandboxServer
from tests.pipeline.conftest import Pipeline, make_pipeline
from tests.pipeline.test_connection_identity import (
    PERSON,
    CrmRecords,
    _cli,
    _post,
    _score_of,
    _stored_id,
)


def _run(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output[result.output.index("{") :]))


def pushed_once(
    crm: str, sandbox: SandboxServer, request: pytest.FixtureRequest
) -> tuple[Pipeline, str]:
    """A pipeline that has pushed the person's first answer; and their record's id."""
    pipeline = make_pipeline(crm, "embedded", sandbox, request)
    pipeline.install()
    _post(pipeline, "r-1", 9, "Gut")
    _run(_cli(pipeline, "sync", "--json"))
    crm_id = _stored_id(pipeline)
    assert crm_id
    return pipeline, crm_id


@pytest.mark.integration
@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_deleted_and_recreated_record_when_pushed_then_value_lands_on_live_record(
    crm: str, sandbox: SandboxServer, request: pytest.FixtureRequest
) -> None:
    pipeline, dead = pushed_once(crm, sandbox, request)
    records = CrmRecords(crm, pipeline.config)
    records.delete(dead)
    live = records.create(PERSON)

    _post(pipeline, "r-2", 3, "Zu langsam")
    run = _run(_cli(pipeline, "sync", "--json"))
    assert run["rejected"] == 0 and run["written"] >= 1, run
    assert _stored_id(pipeline) == live
    with database(pipeline.app).session() as session:
        values = session.scalar(select(Scorecard.values).where(Scorecard.subject_type == "contact"))
    assert float(_score_of(pipeline.config, crm, live)) == float(values["nps.score"])

    # Gone without a new record: unmatched, and the next push does not try the dead id again.
    records.delete(live)
    _post(pipeline, "r-3", 10, "")
    run = _run(_cli(pipeline, "sync", "--json"))
    assert run["rejected"] == 0 and run["unmatched"] >= 1, run
    with database(pipeline.app).session() as session:
        contact = session.scalar(select(Contact).where(Contact.email == PERSON))
        assert contact is not None and contact.crm_id is None and contact.unmatched_since
    assert _run(_cli(pipeline, "sync", "--json"))["rejected"] == 0


@pytest.mark.integration
@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_unmatched_person_when_added_to_crm_later_then_plain_sync_matches_them(
    crm: str, sandbox: SandboxServer, request: pytest.FixtureRequest
) -> None:
    pipeline = make_pipeline(crm, "embedded", sandbox, request)
    pipeline.install()
    late = "spaeter.angelegt@nordlicht-logistik.de"
    reply = pipeline.app.test_client().post(
        "/api/v1/responses",
        json={"responses": [{"source": "survey", "external_id": "late-1", "kind": "nps",
                             "score": 6, "email": late, "answered_at": "2026-11-28T09:00:00Z"}]},
        headers=pipeline.headers("ingest"),
    )  # fmt: skip
    assert reply.status_code == 200, reply.json
    assert _run(_cli(pipeline, "sync", "--json"))["unmatched"] == 1

    created = CrmRecords(crm, pipeline.config).create(late)
    run = _run(_cli(pipeline, "sync", "--json"))  # nothing new posted; not --full
    assert run["written"] == 1 and run["unmatched"] == 0, run
    with database(pipeline.app).session() as session:
        assert session.scalar(select(Contact.crm_id).where(Contact.email == late)) == created
    assert float(_score_of(pipeline.config, crm, created)) == 6  # the answer's score
