"""Merged CRM records: cx360 follows the record that remains, by what each CRM documents.

- HubSpot: ``POST /crm/v3/objects/contacts/merge`` makes a new record with a new id; "both of
  the previous IDs will point to the resulting merged record, so fetching any records using the
  original IDs will return the new merged record with the new ID" (developer changelog
  "Updated merge functionality for contacts and companies"), which lists the old ids in
  ``hs_merged_object_ids``. A write to a merged-away id is not documented to follow; the
  sandbox refuses it (``OBJECT_NOT_FOUND``), the strict reading.
- Salesforce: the merged-away record is deleted (a write answers ``ENTITY_IS_DELETED``) and
  "if this record was deleted as the result of a merge, [MasterRecordId] contains the ID of the
  record that remains" (Object Reference, Contact); ``queryAll`` "will return records that have
  been deleted because of a merge or delete" (REST API Developer Guide, "QueryAll").

In both tests the record that remains keeps the *other* record's email (the primary's / the
master's), so finding the person again by email would not find it: only following the merge
puts the score on the right record.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.companies import PublicMergeInput as CompanyMergeInput
from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyInput
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    PublicMergeInput,
    SimplePublicObjectBatchInput,
)
from sqlalchemy import select

from connector.app import database
from connector.crm.factory import adapter_from_config
from connector.crm.mapping import load_mapping
from connector.storage import Account, Contact, FollowUp, Scorecard, utcnow
from crm_sandbox import SandboxServer
from tests.pipeline.conftest import Pipeline, make_pipeline
from tests.pipeline.test_connection_identity import (
    CrmRecords,
    _cli,
    _post,
    _score_of,
    _stored_id,
)
from tests.pipeline.test_end_to_end import post_sample, run_sync_now
from tests.pipeline.test_follow_up_once import delete_crm_task, push_contact
from tests.pipeline.test_gone_records import _run, pushed_once

DUPLICATE = "m.lange@nordlicht-logistik.de"


def _hubspot(config: dict[str, Any]) -> HubSpot:
    return HubSpot(access_token=config["HUBSPOT_ACCESS_TOKEN"], host=config["HUBSPOT_BASE_URL"],
                   ssl_ca_cert=config["CX360_CRM_CA_BUNDLE"])  # fmt: skip


def _merge(crm: str, config: dict[str, Any], sandbox: SandboxServer, keep: str, away: str) -> str:
    """Merge ``away`` into ``keep`` as an admin would; returns the id of the record that
    remains (HubSpot: a new one)."""
    if crm == "hubspot":
        merged = _hubspot(config).crm.contacts.basic_api.merge(
            PublicMergeInput(primary_object_id=keep, object_id_to_merge=away)
        )
        return str(merged.id)
    sandbox.admin.merge_salesforce("Contact", master=keep, loser=away)
    return keep


@pytest.mark.integration
@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_contact_merged_into_another_when_pushed_then_value_lands_on_surviving_record(
    crm: str, sandbox: SandboxServer, request: pytest.FixtureRequest
) -> None:
    pipeline, merged_away = pushed_once(crm, sandbox, request)
    duplicate = CrmRecords(crm, pipeline.config).create(DUPLICATE)
    survivor = _merge(crm, pipeline.config, sandbox, keep=duplicate, away=merged_away)

    _post(pipeline, "r-2", 3, "Zu langsam")
    run = _run(_cli(pipeline, "sync", "--json"))

    assert run["rejected"] == 0 and run["unmatched"] == 0 and run["written"] >= 1, run
    assert _stored_id(pipeline) == survivor
    with database(pipeline.app).session() as session:
        values = session.scalar(select(Scorecard.values).where(Scorecard.subject_type == "contact"))
    assert values["nps.score"] is not None
    assert float(_score_of(pipeline.config, crm, survivor)) == float(values["nps.score"])
    # The next push writes nothing more: the id it keeps is the live one.
    assert _run(_cli(pipeline, "sync", "--json"))["rejected"] == 0


@pytest.mark.integration
def test_given_hubspot_merge_then_old_ids_read_as_new_record_and_writes_to_them_are_refused(
    sandbox: SandboxServer, request: pytest.FixtureRequest
) -> None:
    """The sandbox's merge as the changelog and the merge endpoint's reference document it
    (developers.hubspot.com/docs/api-reference/crm-contacts-v3/basic/
    post-crm-v3-objects-contacts-merge)."""
    pipeline = make_pipeline("hubspot", "embedded", sandbox, request)
    records = CrmRecords("hubspot", pipeline.config)
    first, second = records.create("eins@merge.example"), records.create("zwei@merge.example")
    client = _hubspot(pipeline.config)

    merged = client.crm.contacts.basic_api.merge(
        PublicMergeInput(primary_object_id=first, object_id_to_merge=second)
    )

    assert merged.id not in (first, second)
    for old in (first, second):
        read = client.crm.contacts.basic_api.get_by_id(
            old, properties=["email", "hs_merged_object_ids"]
        )
        assert read.id == merged.id
        assert read.properties["email"] == "eins@merge.example"  # the primary's value wins
        assert set(read.properties["hs_merged_object_ids"].split(";")) == {first, second}
    update = BatchInputSimplePublicObjectBatchInput(
        inputs=[
            SimplePublicObjectBatchInput(
                id=second, object_write_trace_id=second, properties={"firstname": "X"}
            )
        ]
    )  # as cx360 sends it: traced, so refused per input
    reply = client.crm.contacts.batch_api.update(update, _preload_content=False)
    body = json.loads(reply.data)
    assert reply.status == 207 and body["errors"][0]["category"] == "OBJECT_NOT_FOUND"


@pytest.mark.integration
def test_given_salesforce_merge_then_loser_is_deleted_with_master_record_id_in_query_all(
    sandbox: SandboxServer, request: pytest.FixtureRequest
) -> None:
    pipeline = make_pipeline("salesforce", "embedded", sandbox, request)
    records = CrmRecords("salesforce", pipeline.config)
    master, loser = records.create("eins@merge.example"), records.create("zwei@merge.example")
    sf = records.sf
    task = sf.Task.create({"Subject": "Anrufen", "WhoId": loser})["id"]

    sandbox.admin.merge_salesforce("Contact", master=master, loser=loser)

    soql = f"SELECT Id, IsDeleted, MasterRecordId FROM Contact WHERE Id = '{loser}'"
    assert sf.query(soql)["records"] == []
    (binned,) = sf.query(soql, include_deleted=True)["records"]
    assert binned["IsDeleted"] is True and binned["MasterRecordId"] == master
    assert sf.Task.get(task)["WhoId"] == master  # related records move to the master
    outcome = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"allOrNone": False,
              "records": [{"attributes": {"type": "Contact"}, "id": loser, "LastName": "X"}]},
    )  # fmt: skip
    assert outcome[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


@pytest.mark.integration
@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_pending_follow_up_when_contact_merged_then_task_lands_on_surviving_record(
    crm: str, sandbox: SandboxServer, request: pytest.FixtureRequest
) -> None:
    """A task claimed before the merge but never created (the worker died before the CRM
    call) names the merged-away record: it is sent to the record that remains, and that
    record gets the whole scorecard."""
    pipeline = make_pipeline(crm, "embedded", sandbox, request)
    pipeline.install()
    post_sample(pipeline, pipeline.headers("ingest"))
    run_sync_now(pipeline)
    with database(pipeline.app).session() as session:
        row = session.scalars(select(FollowUp).order_by(FollowUp.id)).first()
        assert row is not None and row.crm_task_id
        contact_id, lost_task = row.contact_id, str(row.crm_task_id)
        row.crm_task_id, row.lease_until = None, utcnow()  # claimed, never created, lease over
        contact = session.get(Contact, contact_id)
        assert contact is not None and contact.crm_id
        merged_away = str(contact.crm_id)
    delete_crm_task(pipeline, lost_task)
    duplicate = CrmRecords(crm, pipeline.config).create(DUPLICATE)
    survivor = _merge(crm, pipeline.config, sandbox, keep=duplicate, away=merged_away)

    push_contact(pipeline, contact_id)  # nothing new to write: only the pending task
    push_contact(pipeline, contact_id)  # the outbox's push of the rematched contact

    with database(pipeline.app).session() as session:
        row = session.scalars(select(FollowUp).where(FollowUp.contact_id == contact_id)).one()
        assert row.crm_task_id and row.rejected_at is None, row.rejection
        contact = session.get(Contact, contact_id)
        assert contact is not None and contact.crm_id == survivor
        values = session.scalar(
            select(Scorecard.values).where(
                Scorecard.subject_type == "contact", Scorecard.subject_id == contact_id
            )
        )
    assert _task_record(pipeline, crm, str(row.crm_task_id)) == survivor
    assert float(_score_of(pipeline.config, crm, survivor)) == float(values["nps.score"])


def _task_record(pipeline: Pipeline, crm: str, task_id: str) -> str:
    """The contact record a task is attached to, as the CRM has it."""
    if crm == "salesforce":
        return str(CrmRecords(crm, pipeline.config).sf.Task.get(task_id)["WhoId"])
    associations = _hubspot(pipeline.config).crm.associations.v4.basic_api.get_page(
        "tasks", task_id, "contacts"
    )
    (linked,) = associations.results
    return str(linked.to_object_id)


@pytest.mark.integration
@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_account_merged_into_another_when_pushed_then_value_lands_on_surviving_record(
    crm: str, sandbox: SandboxServer, request: pytest.FixtureRequest
) -> None:
    pipeline, _ = pushed_once(crm, sandbox, request)
    with database(pipeline.app).session() as session:
        account = session.scalars(select(Account).where(Account.crm_id.is_not(None))).one()
        account_id, merged_away = account.id, str(account.crm_id)
    if crm == "hubspot":
        companies = _hubspot(pipeline.config).crm.companies.basic_api
        duplicate = str(
            companies.create(
                CompanyInput(properties={"name": "Nordlicht (alt)", "domain": "nordlicht.example"})
            ).id
        )
        survivor = str(
            companies.merge(CompanyMergeInput(primary_object_id=duplicate,
                                             object_id_to_merge=merged_away)).id
        )  # fmt: skip
    else:
        sf = CrmRecords(crm, pipeline.config).sf
        duplicate = survivor = sf.Account.create(
            {"Name": "Nordlicht (alt)", "Website": "nordlicht.example"}
        )["id"]
        sandbox.admin.merge_salesforce("Account", master=duplicate, loser=merged_away)

    _post(pipeline, "r-2", 3, "Zu langsam")
    run = _run(_cli(pipeline, "sync", "--json"))

    assert run["rejected"] == 0 and run["unmatched"] == 0, run
    with database(pipeline.app).session() as session:
        account = session.get(Account, account_id)
        assert account is not None and account.crm_id == survivor
        values = session.scalar(
            select(Scorecard.values).where(
                Scorecard.subject_type == "account", Scorecard.subject_id == account_id
            )
        )
    field = load_mapping(crm, pipeline.config).account.by_metric()["nps.score"].field
    written = adapter_from_config(pipeline.config).read("account", [survivor], [field])[survivor]
    assert float(written[field]) == float(values["nps.score"])
