"""The worker's and beat's log lines with CX360_LOG_FORMAT=json, from a real `cx360 worker
--beat` pushing to the sandbox CRM (issue 17): one JSON object per line, the push's lines name
their Celery task and sync run, and the relay, running every second, says nothing at INFO
while there is nothing to relay."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from connector.app import database
from connector.storage import ServiceHeartbeat
from connector.storage.heartbeats import RELAY
from tests.pipeline.conftest import make_pipeline
from tests.pipeline.test_end_to_end import pending_outbox

pytestmark = pytest.mark.integration


def _relay_beats(pipeline: Any) -> Any:
    with database(pipeline.app).session() as session:
        return session.scalar(
            select(ServiceHeartbeat.beat_at).where(ServiceHeartbeat.name == RELAY)
        )


def test_given_json_logs_when_worker_pushes_and_idles_then_json_lines_with_ids_and_quiet_relay(
    sandbox: Any, request: pytest.FixtureRequest
):
    pipeline = make_pipeline("hubspot", "embedded", sandbox, request, CX360_LOG_FORMAT="json")
    pipeline.install()
    sandbox.admin.generate_contacts("hubspot", count=1, accounts=1)
    pipeline.start_worker(beat=True)
    reply = pipeline.app.test_client().post(
        "/api/v1/responses",
        json={"responses": [{"kind": "nps", "score": 3, "email": "bulk-000000@example.com",
                             "external_id": "log-1", "answered_at": "2026-11-01T10:00:00Z"}]},
        headers=pipeline.headers("ingest"),
    )  # fmt: skip
    assert reply.status_code == 200, reply.json
    pipeline.wait_for(lambda: pending_outbox(pipeline) == 0, what="the push")
    pipeline.wait_for(lambda: "sync run" in pipeline.worker_logs(tail=10**6), what="its log line")
    # idle: at least three relays (one a second) after the push, none of them at INFO
    idle_from = _relay_beats(pipeline)
    seen = len(pipeline.worker_logs(tail=10**6))
    pipeline.wait_for(
        lambda: (_relay_beats(pipeline) - idle_from).total_seconds() >= 3, what="three relays"
    )
    output = pipeline.worker_logs(tail=10**6)
    pipeline.stop_workers()

    lines = [line for line in output.splitlines() if line.strip()]
    records = []
    for line in lines:
        if line.startswith("worker: Warm shutdown"):  # Celery prints this from its signal handler
            continue
        records.append(json.loads(line))  # every other line is a JSON object
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    pushed = [r for r in records if r["message"].startswith("sync run ")]
    assert pushed, output[-3000:]
    assert "1 written" in pushed[0]["message"]
    assert pushed[0]["task_id"] and isinstance(pushed[0]["sync_run_id"], int)
    idle = [json.loads(line) for line in output[seen:].splitlines()
            if line.strip() and not line.startswith("worker: Warm")]  # fmt: skip
    chatter = [r for r in idle if r["level"] == "INFO" and "relay" in r["message"].lower()]
    assert chatter == [], chatter
