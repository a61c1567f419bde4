"""`cx360 worker` serves Prometheus metrics of all its processes at CX360_WORKER_METRICS_BIND
(issue 17): a real worker, its prefork pool process doing the pushes, scraped over HTTP while it
pushes to the sandbox CRM through the real client libraries."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from connector.config import ConfigError, load_config
from tests.pipeline.conftest import make_pipeline
from tests.pipeline.test_end_to_end import pending_outbox
from tests.reliability.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    reply = requests.get(url, timeout=10)
    reply.raise_for_status()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).ok
    except requests.ConnectionError:
        return False


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


def responses(count: int, score: int = 3) -> dict[str, Any]:
    return {
        "responses": [
            {"kind": "nps", "score": score, "email": f"bulk-{i:06d}@example.com",
             "external_id": f"metrics-{i}", "answered_at": "2026-11-01T10:00:00Z"}
            for i in range(count)
        ]
    }  # fmt: skip


@pytest.mark.integration
def test_given_a_worker_with_metrics_when_it_pushes_through_429s_then_a_scrape_counts_it_all(
    sandbox: Any, request: pytest.FixtureRequest
):
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    pipeline = make_pipeline("hubspot", "embedded", sandbox, request,
                             CX360_WORKER_METRICS_BIND=f"127.0.0.1:{port}")  # fmt: skip
    pipeline.install()
    sandbox.admin.generate_contacts("hubspot", count=3, accounts=1)
    pipeline.start_worker(beat=True)
    pipeline.wait_for(lambda: answers(url), what="the worker's metrics endpoint")
    sandbox.admin.reset_stats()
    # HubSpot answers the next request 429 (its ten-secondly limit): the push that got it is
    # put back for the Retry-After the sandbox sends, then gets through
    sandbox.admin.set_faults("hubspot", burst_429=1)
    reply = pipeline.app.test_client().post(
        "/api/v1/responses", json=responses(3), headers=pipeline.headers("ingest")
    )
    assert reply.status_code == 200, reply.json
    pipeline.wait_for(lambda: pending_outbox(pipeline) == 0, what="the push")
    pipeline.wait_for(
        lambda: total(scrape(url), "cx360_crm_records_total", outcome="written") >= 4,
        what="the push's records in the metrics",
    )
    samples = scrape(url)  # the worker's main process answers: its pool process pushed
    stats = sandbox.admin.stats()

    calls = total(samples, "cx360_crm_calls_total", crm="hubspot")
    assert calls == stats["hubspot"]["total"], (samples, stats)  # every request, once
    assert total(samples, "cx360_crm_calls_total", outcome="rate_limited") == 1
    assert total(samples, "cx360_crm_calls_total", outcome="ok") == calls - 1
    assert total(samples, "cx360_crm_calls_total", operation="contacts.batch.update") >= 1
    assert total(samples, "cx360_task_retries_total", task="cx360.push_subjects",
                 reason="rate_limited") == 1  # fmt: skip
    assert 0 < total(samples, "cx360_task_backoff_seconds_total") <= 10  # its Retry-After
    # the three contacts and their account
    assert total(samples, "cx360_crm_records_total", crm="hubspot", outcome="written") == 4
    assert total(samples, "cx360_crm_records_total", outcome="rejected") == 0
    assert total(samples, "cx360_sync_run_seconds_count", trigger="outbox",
                 status="succeeded") >= 1  # fmt: skip
    assert total(samples, "cx360_sync_run_seconds_count", status="failed") == 1  # the 429's
    assert total(samples, "cx360_push_lag_seconds_count", crm="hubspot") == 4  # one per change
    assert total(samples, "cx360_push_lag_seconds_sum", crm="hubspot") > 0


def test_given_worker_metrics_bind_on_a_taken_port_when_starting_then_one_line_and_exit_1(
    tmp_path: Path,
):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CX360_")}
        env.update(CX360_CRM="hubspot", CX360_INSTANCE_PATH=str(tmp_path / "instance"),
                   CX360_WORKER_METRICS_BIND=f"127.0.0.1:{port}")  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "connector.cli", "worker"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1, done
    assert f"Port {port} on 127.0.0.1 is not available" in done.stderr
    assert "CX360_WORKER_METRICS_BIND" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize("value", ["9360", "localhost", "0.0.0.0:http", "[::1]:70000"])
def test_given_a_bad_worker_metrics_bind_when_configuring_then_the_setting_is_named(value: str):
    with pytest.raises(ConfigError, match=r"CX360_WORKER_METRICS_BIND=.*expected host:port"):
        load_config({"CX360_WORKER_METRICS_BIND": value}, dotenv_path=None)
