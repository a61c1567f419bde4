"""Kill -9 worker processes during a push: the CRM still ends exactly right.

The scaled-down version of ``bench/reliability_worker_kills.py`` (20,000 contacts): 500
contacts, two workers, a few kills of a whole worker (Celery main process, pool child, beat)
while it pushes. Afterwards every contact holds the scoring core's values and every detractor
has exactly one follow-up task.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from connector.app import database
from connector.storage import FollowUp
from tests.conftest import truncate_all
from tests.pipeline.conftest import make_pipeline
from tests.pipeline.test_end_to_end import TASK_OBJECT
from tests.reliability.harness import (
    PrivateRedis,
    WorkerGroups,
    check_crm,
    make_load,
    pending_outbox,
    post_load,
    wait_until,
)

CONTACTS = 500
KILLS = 4


@pytest.mark.integration
@pytest.mark.postgres
def test_given_workers_killed_repeatedly_when_pushing_then_crm_is_exact_with_one_task_each(
    sandbox: Any, request: pytest.FixtureRequest, private_redis: PrivateRedis, postgres_url: str
):
    truncate_all(postgres_url)
    pipeline = make_pipeline(
        "hubspot", "embedded", sandbox, request,
        CX360_DATABASE_URL=postgres_url, CX360_BROKER_URL=private_redis.url,
        CX360_PUSH_CHUNK=50, CX360_OUTBOX_LEASE_SECONDS=6, CX360_RELAY_INTERVAL_SECONDS=1.0,
    )  # fmt: skip
    pipeline.install()
    load = make_load(sandbox, "hubspot", CONTACTS, accounts=10)
    sandbox.admin.set_faults("hubspot", latency_ms=15)  # pushes take long enough to be hit
    post_load(pipeline.app.test_client(), load, pipeline.headers("ingest"))
    workers = WorkerGroups(pipeline.env, pipeline.instance)
    request.addfinalizer(workers.stop)
    workers.start()
    workers.start(beat=False)

    rng = random.Random(8)
    kills = 0
    deadline = time.monotonic() + 40
    while kills < KILLS and time.monotonic() < deadline:
        time.sleep(rng.uniform(1.5, 3.0))
        if pending_outbox(pipeline.app) == 0:
            break
        victim = rng.choice(workers.processes)
        beat = victim is workers.processes[0]
        workers.kill(victim)
        kills += 1
        # the replacement takes over beat when the one that had it died
        replacement = workers.start(beat=beat)
        if beat:
            workers.processes.insert(0, workers.processes.pop(workers.processes.index(replacement)))

    deadline = time.monotonic() + 120
    while pending_outbox(pipeline.app) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert pending_outbox(pipeline.app) == 0, workers.logs()
    check = check_crm(sandbox, pipeline.config, load, datetime.now(UTC))

    assert kills >= 2, "the push finished before the workers could be killed"
    assert not check.wrong, check.summary()
    assert not check.duplicate_tasks and not check.stray_tasks, check.summary()
    assert not check.missing_tasks, check.summary()
    assert check.tasks == len(load.detractors)


def follow_ups(app: Any) -> tuple[int, int]:
    """(follow-up tasks claimed, of which recorded as created)."""
    with database(app).session() as session:
        claimed = session.scalar(select(func.count()).select_from(FollowUp)) or 0
        created = session.scalar(
            select(func.count()).select_from(FollowUp).where(FollowUp.crm_task_id.is_not(None))
        )
        return claimed, created or 0


@pytest.mark.integration
@pytest.mark.postgres
def test_given_worker_killed_after_crm_created_tasks_before_recording_them_then_one_task_each(
    sandbox: Any, request: pytest.FixtureRequest, private_redis: PrivateRedis, postgres_url: str
):
    """The window no key uniqueness covers on HubSpot (no unique properties on tasks): the CRM
    created the batch's tasks, the worker is killed -9 before it records their ids. After
    the claims' lease the next push looks the keys up and records the tasks it finds."""
    truncate_all(postgres_url)
    pipeline = make_pipeline(
        "hubspot", "embedded", sandbox, request,
        CX360_DATABASE_URL=postgres_url, CX360_BROKER_URL=private_redis.url,
        CX360_OUTBOX_LEASE_SECONDS=4, CX360_RELAY_INTERVAL_SECONDS=1.0,
    )  # fmt: skip
    pipeline.install()
    load = make_load(sandbox, "hubspot", 40, accounts=4)
    # the CRM applies the task batch, then its answer is held: the worker waits for it
    # HubSpot's search lags its writes (CRM_API_NOTES); the claims' lease is longer
    sandbox.admin.set_faults("hubspot", hold_reply_ms=120_000, search_delay_ms=1_500,
                             hold_reply_endpoint="tasks.batch_create")  # fmt: skip
    request.addfinalizer(lambda: sandbox.admin.clear_faults("hubspot"))
    workers = WorkerGroups(pipeline.env, pipeline.instance)
    request.addfinalizer(workers.stop)
    post_load(pipeline.app.test_client(), load, pipeline.headers("ingest"))
    victim = workers.start()

    created = wait_until(
        lambda: sandbox.admin.records("hubspot", TASK_OBJECT["hubspot"]), 90,
        "the CRM to create the follow-up tasks",
    )  # fmt: skip
    workers.kill(victim)
    claimed, recorded = follow_ups(pipeline.app)
    assert created and claimed >= len(created) and recorded == 0

    sandbox.admin.set_faults("hubspot", hold_reply_ms=0, hold_reply_endpoint="")  # search lags on
    workers.start()
    wait_until(
        lambda: (
            pending_outbox(pipeline.app) == 0
            and follow_ups(pipeline.app)[1] == len(load.detractors)
        ),
        120,
        "the follow-up tasks to be recorded",
    )
    check = check_crm(sandbox, pipeline.config, load, datetime.now(UTC))
    assert not check.duplicate_tasks and not check.stray_tasks, check.summary()
    assert not check.missing_tasks and check.tasks == len(load.detractors), check.summary()
    task_ids = {str(t["id"]) for t in sandbox.admin.records("hubspot", TASK_OBJECT["hubspot"])}
    with database(pipeline.app).session() as session:
        assert set(session.scalars(select(FollowUp.crm_task_id))) == task_ids
