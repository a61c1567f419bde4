"""A sync run whose worker is killed -9 mid-run is closed as failed once its lease runs out
(issue 17.2): before, it stayed "running" forever. A live run keeps its lease."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connector.app import database
from connector.storage import SyncRun, utcnow
from tests.conftest import truncate_all
from tests.pipeline.conftest import make_pipeline
from tests.reliability.harness import (
    PrivateRedis,
    WorkerGroups,
    make_load,
    post_load,
    wait_until,
)

LEASE_SECONDS = 4.0
HOLD_SECONDS = 25.0  # > 2 leases + polling, < the HubSpot client's 30 s timeout


def _poll(what: str, found: Callable[[], Any], seconds: float, logs: Callable[[], str]) -> Any:
    try:
        return wait_until(found, seconds, what)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{logs()}") from None


@pytest.mark.integration
@pytest.mark.postgres
def test_given_worker_killed_mid_run_when_lease_runs_out_then_run_failed_worker_lost(
    sandbox: Any, request: pytest.FixtureRequest, private_redis: PrivateRedis, postgres_url: str
):
    truncate_all(postgres_url)
    pipeline = make_pipeline(
        "hubspot", "embedded", sandbox, request,
        CX360_DATABASE_URL=postgres_url, CX360_BROKER_URL=private_redis.url,
        CX360_SYNC_RUN_LEASE_SECONDS=LEASE_SECONDS, CX360_RELAY_INTERVAL_SECONDS=3600,
        CX360_COALESCE_SECONDS=3600,  # ingest's kicked relay must not take the run's changes
    )  # fmt: skip
    pipeline.install()
    client = pipeline.app.test_client()
    admin = pipeline.headers("admin")
    post_load(client, make_load(sandbox, "hubspot", 200, accounts=5), pipeline.headers("ingest"))
    # The first contact write is applied and its reply held HOLD_SECONDS: the run is alive
    # at least that long, whatever the machine's speed (a latency per call let a quick run
    # finish before its lease was renewed twice). The hold stays under the client's 30 s
    # timeout, so the run is never failed by the hold itself.
    sandbox.admin.set_faults("hubspot", hold_reply_ms=HOLD_SECONDS * 1000, hold_reply_count=1,
                             hold_reply_endpoint="contacts.batch_update")  # fmt: skip
    request.addfinalizer(lambda: sandbox.admin.clear_faults("hubspot"))
    assert client.post("/api/v1/syncs", json={}, headers=admin).status_code == 202
    workers = WorkerGroups(pipeline.env, pipeline.instance)
    request.addfinalizer(workers.stop)
    worker = workers.start(beat=False)

    def running() -> list[dict[str, Any]]:
        return client.get("/api/v1/syncs?status=running", headers=admin).json

    run_id = _poll("a running sync run", running, 120, workers.logs)[0]["id"]
    # the worker renews the lease while it works: the run outlives two leases, still running
    started = _run(pipeline.app, run_id).started_at
    renewed = _poll(
        "a lease renewed past two leases",
        lambda: _renewed_past(pipeline.app, client, admin, run_id, started),
        120,
        workers.logs,
    )
    assert renewed.status == "running", workers.logs()
    assert sandbox.admin.set_faults("hubspot")["faults"]["hubspot"]["hold_reply_taken"] == 1

    workers.kill(worker)
    killed_at = utcnow()

    def closed() -> dict[str, Any] | None:
        run = client.get(f"/api/v1/syncs/{run_id}", headers=admin).json
        return run if run["status"] != "running" else None

    run = _poll("the run closed", closed, 120, workers.logs)
    assert run["status"] == "failed", run
    assert run["error"].startswith("worker lost: no heartbeat since "), run
    assert run["finished_at"] is not None
    last = _run(pipeline.app, run_id).heartbeat_at
    assert last is not None and last <= killed_at
    assert f"{last:%Y-%m-%d %H:%M:%S} UTC" in run["error"]
    listed = client.get("/api/v1/syncs?status=failed", headers=admin).json
    assert run_id in [r["id"] for r in listed]


def _run(app: Flask, run_id: int) -> SyncRun:
    with database(app).session() as session:
        run = session.get(SyncRun, run_id)
        assert run is not None
        return run


def _renewed_past(
    app: Flask, client: FlaskClient, admin: dict[str, str], run_id: int, started: Any
) -> SyncRun | None:
    client.get("/api/v1/syncs", headers=admin)  # listing closes runs whose lease ran out
    run = _run(app, run_id)
    if run.status != "running":
        raise AssertionError(f"a live run was closed: {run.status} {run.error}")
    if run.heartbeat_at and run.heartbeat_at - started > timedelta(seconds=2 * LEASE_SECONDS):
        return run
    return None


def test_given_running_runs_when_beat_relays_then_only_the_one_past_its_lease_is_closed(
    app: Flask,
):
    from tasks.sync import relay_outbox

    now = utcnow()
    with database(app).session() as session:
        lost = SyncRun(status="running", started_at=now - timedelta(minutes=10),
                       heartbeat_at=now - timedelta(minutes=5))  # fmt: skip
        live = SyncRun(status="running", started_at=now - timedelta(minutes=10),
                       heartbeat_at=now - timedelta(seconds=5))  # fmt: skip
        older_release = SyncRun(status="running", started_at=now - timedelta(minutes=3))
        session.add_all([lost, live, older_release])
    with app.app_context():
        relay_outbox.run()
    assert _run(app, lost.id).status == "failed"
    expected = f"worker lost: no heartbeat since {now - timedelta(minutes=5):%Y-%m-%d %H:%M:%S} UTC"
    assert _run(app, lost.id).error == expected
    assert _run(app, live.id).status == "running"
    assert _run(app, older_release.id).status == "failed"  # no lease: judged by its start
