"""A follow-up task is created exactly once, also when a worker dies around the CRM call.

The two windows a kill -9 can hit, reproduced deterministically in process:
- the CRM created the task, but the worker died before recording its id;
- the claim was committed, but the worker died before the CRM call.
In both, the next push of the contact sends the claimed task again; the CRM dedupes it on the
task's follow-up key, so there is exactly one task either way.
"""

from __future__ import annotations

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
            session.get(FollowUp, row.id).crm_task_id = None  # type: ignore[union-attr]
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
