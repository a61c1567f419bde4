"""A follow-up task is created exactly once, also when a worker dies around the CRM call.

The two windows a kill -9 can hit, reproduced deterministically in process:
- the CRM created the task, but the worker died before recording its id;
- the claim was committed, but the worker died before the CRM call.
In both, once the claim's lease has run out, the next push of the contact looks the task's
follow-up key up in the CRM: it records the task it finds and creates only the one the CRM
never got, so there is exactly one task either way (without a unique key on tasks).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from connector.app import database
from connector.crm.mapping import load_mapping
from connector.scoring import ScoringConfig
from connector.storage import FollowUp, utcnow
from connector.sync.push import Pusher
from tests.pipeline.conftest import Pipeline, make_pipeline
from tests.pipeline.test_end_to_end import TASK_OBJECT, post_sample, run_sync_now
from tests.reliability.harness import wait_until


def push_contact(pipeline: Pipeline, contact_id: int) -> None:
    adapter = pipeline.adapter()
    with pipeline.app.app_context(), database(pipeline.app).session() as session:
        Pusher(
            session,
            adapter,
            load_mapping(pipeline.crm, pipeline.config),
            ScoringConfig(),
            now=utcnow(),
        ).push([contact_id], [])


def delete_crm_task(pipeline: Pipeline, task_id: str) -> None:
    adapter: Any = pipeline.adapter()
    if pipeline.crm == "hubspot":
        adapter._client.crm.objects.tasks.basic_api.archive(task_id)
    else:
        adapter._sf.Task.delete(task_id)


@pytest.mark.integration
@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_worker_died_around_task_creation_when_pushed_again_then_exactly_one_task(
    sandbox: Any, request: pytest.FixtureRequest, crm: str
):
    pipeline = make_pipeline(crm, "embedded", sandbox, request)
    pipeline.install()
    post_sample(pipeline, pipeline.headers("ingest"))
    run_sync_now(pipeline)
    tasks = sandbox.admin.records(crm, TASK_OBJECT[crm])
    with database(pipeline.app).session() as session:
        rows = session.scalars(select(FollowUp).order_by(FollowUp.id)).all()
        assert len(rows) == len(tasks) >= 2
        created_not_recorded, claimed_not_created = rows[0], rows[1]
        lost_task_id = str(claimed_not_created.crm_task_id)
        for row in (created_not_recorded, claimed_not_created):
            died = session.get(FollowUp, row.id)
            assert died is not None
            died.crm_task_id, died.lease_until = None, utcnow()  # the lease ran out
    delete_crm_task(pipeline, lost_task_id)  # the CRM never got this one
    assert len(sandbox.admin.records(crm, TASK_OBJECT[crm])) == len(tasks) - 1

    push_contact(pipeline, created_not_recorded.contact_id)
    push_contact(pipeline, claimed_not_created.contact_id)

    assert len(sandbox.admin.records(crm, TASK_OBJECT[crm])) == len(tasks)
    with database(pipeline.app).session() as session:
        assert session.scalars(select(FollowUp).where(FollowUp.crm_task_id.is_(None))).all() == []
    # and pushing again changes nothing
    push_contact(pipeline, created_not_recorded.contact_id)
    assert len(sandbox.admin.records(crm, TASK_OBJECT[crm])) == len(tasks)


def task_calls(pipeline: Pipeline) -> int:
    counts = pipeline.sandbox.admin.stats()["endpoints"]
    return sum(n for key, n in counts.items() if "tasks" in key or "Task" in key)


def deactivate_an_owner(pipeline: Pipeline) -> None:
    """HubSpot: one of the two seeded owners (half the contacts); Salesforce: the user that
    owns every seeded contact."""
    admin = pipeline.sandbox.admin
    if pipeline.crm == "hubspot":
        admin.deactivate_owner("hubspot", "1001")
        return
    users = admin.records("salesforce", "User")
    owner = next(u["Id"] for u in users if u["Username"] == "cx360@sandbox.example.com")
    admin.deactivate_owner("salesforce", owner)


@pytest.mark.integration
@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_owner_deactivated_when_pushing_then_task_rejected_reported_and_not_sent_again(
    sandbox: Any, request: pytest.FixtureRequest, crm: str
):
    pipeline = make_pipeline(crm, "embedded", sandbox, request)
    pipeline.install()
    deactivate_an_owner(pipeline)
    post_sample(pipeline, pipeline.headers("ingest"))

    summary = run_sync_now(pipeline)

    tasks = sandbox.admin.records(crm, TASK_OBJECT[crm])
    with database(pipeline.app).session() as session:
        rows = session.scalars(select(FollowUp).order_by(FollowUp.id)).all()
        rejected = [r for r in rows if r.rejected_at is not None]
        created = [r for r in rows if r.crm_task_id is not None]
        rejected_contacts = sorted(r.contact_id for r in rejected)
        assert rejected and len(created) + len(rejected) == len(rows)
        assert {r.crm_task_id for r in created} == {str(t.get("Id") or t.get("id")) for t in tasks}
        code = "INVALID_OPTION" if crm == "hubspot" else "INACTIVE_OWNER_OR_USER"
        assert all(code in (r.rejection or "") for r in rejected), [r.rejection for r in rejected]
    if crm == "hubspot":
        assert created  # the other owner's tasks were not refused with the rejected ones
    task_rejections = [x for x in summary["rejections"] if x["subject"] == "follow_up_task"]
    assert sorted(x["id"] for x in task_rejections) == rejected_contacts
    assert summary["status"] == "partial"
    assert summary["tasks_created"] == len(created)

    calls = task_calls(pipeline)
    for contact_id in rejected_contacts:
        push_contact(pipeline, contact_id)
    assert task_calls(pipeline) == calls  # a rejected task is not sent again
    assert len(sandbox.admin.records(crm, TASK_OBJECT[crm])) == len(tasks)


@pytest.mark.integration
def test_given_worker_stalled_past_its_lease_when_another_push_took_over_then_one_task_kept(
    sandbox: Any, request: pytest.FixtureRequest
):
    """A worker whose task create is applied but answered only after its lease ran out
    (stalled, not dead), while another push took the claim over, did not find the task
    (HubSpot's search lags its writes) and created its own: the push that records second
    archives the task it made, so one task stays, the one recorded."""
    pipeline = make_pipeline("hubspot", "embedded", sandbox, request)
    pipeline.install()
    post_sample(pipeline, pipeline.headers("ingest"))
    run_sync_now(pipeline)
    before = len(sandbox.admin.records("hubspot", TASK_OBJECT["hubspot"]))
    with database(pipeline.app).session() as session:
        row = session.scalars(select(FollowUp).order_by(FollowUp.id)).first()
        assert row is not None and row.crm_task_id
        follow_up, contact_id, lost = row.id, row.contact_id, str(row.crm_task_id)
        row.crm_task_id, row.lease_until = None, utcnow()  # never recorded, lease over
    delete_crm_task(pipeline, lost)  # the CRM never got it either
    sandbox.admin.set_faults(
        "hubspot", hold_reply_ms=120_000, hold_reply_count=1,
        hold_reply_endpoint="tasks.batch_create", search_delay_ms=120_000,
    )  # fmt: skip
    request.addfinalizer(lambda: sandbox.admin.clear_faults("hubspot"))

    stalled = threading.Thread(target=push_contact, args=(pipeline, contact_id))
    stalled.start()  # takes the claim over, creates the task; its answer is held
    wait_until(lambda: len(sandbox.admin.records("hubspot", TASK_OBJECT["hubspot"])) == before,
               60, "the stalled push's task to be created")  # fmt: skip
    with database(pipeline.app).session() as session:
        taken = session.get(FollowUp, follow_up)
        assert taken is not None and taken.crm_task_id is None
        taken.lease_until = utcnow()  # the stall outlasts the lease
    push_contact(pipeline, contact_id)  # takes over, finds nothing yet, creates and records
    sandbox.admin.set_faults("hubspot", hold_reply_ms=0, hold_reply_endpoint="")
    stalled.join(60)
    assert not stalled.is_alive()

    tasks = sandbox.admin.records("hubspot", TASK_OBJECT["hubspot"])
    with database(pipeline.app).session() as session:
        recorded = session.scalar(select(FollowUp.crm_task_id).where(FollowUp.id == follow_up))
    assert len(tasks) == before
    assert recorded in {str(t["id"]) for t in tasks}
