"""Sync runs: `cx360 sync [--dry-run] [--full]` and POST /api/v1/syncs run by a worker."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from connector.cli import main
from tests.pipeline.conftest import make_pipeline
from tests.pipeline.test_end_to_end import post_sample


def _cli(pipeline: Any, *args: str) -> Any:
    return CliRunner().invoke(main, ["sync", *args], env=pipeline.env, catch_exceptions=False)


@pytest.mark.integration
def test_given_pending_changes_when_cli_syncs_then_dry_run_plans_and_sync_writes_once(
    sandbox: Any, request: pytest.FixtureRequest
):
    pipeline = make_pipeline("salesforce", "embedded", sandbox, request)
    pipeline.install()
    post_sample(pipeline, pipeline.headers("ingest"))

    planned = _cli(pipeline, "--dry-run")
    assert planned.exit_code == 0, planned.output
    assert "would change" in planned.output and "CX_NPS_Category__c" in planned.output
    assert sandbox.admin.records("salesforce", "Task") == []  # a dry run writes nothing

    done = _cli(pipeline, "--json")
    assert done.exit_code == 0, done.output
    run = json.loads(done.output[done.output.index("{") :])
    assert run["status"] in ("succeeded", "partial") and run["written"] > 0
    assert run["unmatched"] == 1 and run["api_calls"] > 0

    again = _cli(pipeline, "--json").output
    assert json.loads(again[again.index("{") :])["written"] == 0  # nothing pending

    # --full rewrites every mapped field of every known record (repairs drift in the CRM)
    full = _cli(pipeline, "--full", "--json")
    run = json.loads(full.output[full.output.index("{") :])
    assert run["written"] > 0 and run["full"] is True


@pytest.mark.integration
def test_given_worker_when_sync_requested_through_api_then_run_recorded_with_counts(
    sandbox: Any, request: pytest.FixtureRequest
):
    pipeline = make_pipeline(
        "hubspot", "embedded", sandbox, request, CX360_RELAY_INTERVAL_SECONDS=3600
    )  # the API's run does the push
    pipeline.install()
    post_sample(pipeline, pipeline.headers("ingest"))
    pipeline.start_worker(beat=False)
    admin = pipeline.headers("admin")
    client = pipeline.app.test_client()
    queued = client.post("/api/v1/syncs", json={}, headers=admin)
    assert queued.status_code == 202, queued.json
    run_id = queued.json["id"]

    def finished() -> Any:
        run = client.get(f"/api/v1/syncs/{run_id}", headers=admin).json
        return run if run["status"] not in ("queued", "running") else None

    run = pipeline.wait_for(finished, what="the requested sync run")
    assert run["status"] in ("succeeded", "partial"), run
    assert run["written"] > 0 and run["unmatched"] == 1 and run["api_calls"] > 0
    assert run["duration_seconds"] is not None
    listed = client.get("/api/v1/syncs", headers=admin).json
    assert run_id in [r["id"] for r in listed]
    # ?status= filters as the OpenAPI documents; an unknown status is a 422 naming the field
    same_status = client.get(f"/api/v1/syncs?status={run['status']}", headers=admin).json
    assert run_id in [r["id"] for r in same_status]
    assert {r["status"] for r in same_status} == {run["status"]}
    assert client.get("/api/v1/syncs?status=failed", headers=admin).json == []
    unknown = client.get("/api/v1/syncs?status=done", headers=admin)
    assert unknown.status_code == 422 and "status" in json.dumps(unknown.json)
    assert client.get("/api/v1/syncs/999999", headers=admin).status_code == 404
