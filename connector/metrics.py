"""Prometheus metrics, defined once per process (the registry is global).

Under gunicorn (several processes) each process counts on its own; with
``PROMETHEUS_MULTIPROC_DIR`` set (``cx360 serve`` sets it itself) every process writes its
values to files there and a scrape of any process adds up all of them (``scrape_registry``).
``prepare_multiprocess_dir`` turns it on in a process that has imported this module already.
``cx360 worker`` does the same for its Celery pool and serves the sum on its own port
(``serve_worker_metrics``, CX360_WORKER_METRICS_BIND). Label sets stay small and fixed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
    start_http_server,
    values,
)

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "cx360_http_requests_total", "HTTP requests answered", ["method", "endpoint", "status"]
)
HTTP_LATENCY = Histogram(
    "cx360_http_request_seconds",
    "Time to answer an HTTP request",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
ITEMS_INGESTED = Counter(
    "cx360_items_ingested_total", "Responses and ratings stored", ["item", "outcome"]
)
DATABASE_RETRIES = Counter(
    "cx360_database_retries_total",
    "Transactions run again after a unique-key race, deadlock or serialization failure",
    ["sqlstate"],
)
STORAGE_UNAVAILABLE = Counter(
    "cx360_storage_unavailable_total",
    "Requests answered 503 for a database error (unreachable, or retries exhausted)",
    ["sqlstate"],
)

# ---- the worker's side (scraped from ``cx360 worker`` at CX360_WORKER_METRICS_BIND): a
# registry of their own, so the web's /metrics does not list them without values
WORKER_REGISTRY = CollectorRegistry()
CRM_CALLS = Counter(
    "cx360_crm_calls_total",
    "HTTP requests to the CRM by operation and outcome (ok, rate_limited, client_error, "
    "server_error, connection_error)",
    ["crm", "operation", "outcome"],
    registry=WORKER_REGISTRY,
)
CRM_BUDGET_WAIT = Counter(
    "cx360_crm_budget_wait_seconds_total",
    "Time spent waiting for the CRM request budget all workers share (CX360_CRM_RATE_LIMIT)",
    ["crm"],
    registry=WORKER_REGISTRY,
)
TASK_RETRIES = Counter(
    "cx360_task_retries_total",
    "Tasks put back after a transient CRM error, by its kind (rate_limited, server_error, ...)",
    ["task", "reason"],
    registry=WORKER_REGISTRY,
)
TASK_BACKOFF = Counter(
    "cx360_task_backoff_seconds_total",
    "Seconds those tasks were put back for (the CRM's Retry-After, or exponential back-off)",
    ["task"],
    registry=WORKER_REGISTRY,
)
CRM_RECORDS = Counter(
    "cx360_crm_records_total",
    "Records pushes wrote, found unchanged, or the CRM rejected; contacts the CRM does not know",
    ["crm", "outcome"],
    registry=WORKER_REGISTRY,
)
SYNC_RUN_SECONDS = Histogram(
    "cx360_sync_run_seconds",
    "Duration of finished sync runs by trigger (outbox, api, cli) and status",
    ["trigger", "status"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
    registry=WORKER_REGISTRY,
)
PUSH_LAG = Histogram(
    "cx360_push_lag_seconds",
    "From a change's arrival in the outbox to the push that wrote it to the CRM",
    ["crm"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 21600),
    registry=WORKER_REGISTRY,
)


def scrape_registry() -> CollectorRegistry:
    """What a scrape reports: every process's values when multiprocess mode is on, else this
    process's."""
    if not os.environ.get(MULTIPROC_DIR_VARIABLE):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def prepare_multiprocess_dir(directory: Path) -> None:
    """Create ``directory`` empty (values of a previous run would be added to this run's) and
    point ``PROMETHEUS_MULTIPROC_DIR`` at it; call at server start, before workers fork."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROC_DIR_VARIABLE] = str(directory)
    # prometheus_client chose its value class at import; every metric here has labels, so
    # their values are made at first use (after the fork) with the class chosen now
    values.ValueClass = values.get_value_class()


def serve_worker_metrics(host: str, port: int) -> Path:
    """Serve ``/metrics`` of this process and the pool processes it forks from now on, on a
    thread (prometheus_client's own server); return the values' folder, for the caller to
    remove at exit. Call in ``cx360 worker`` before Celery starts its pool."""
    directory = Path(tempfile.mkdtemp(prefix="cx360-worker-metrics-"))
    prepare_multiprocess_dir(directory)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    start_http_server(port, addr=host, registry=registry)
    return directory


def forget_process(pid: int) -> None:
    """A worker process ended (gunicorn's ``child_exit``): drop its live gauges' files."""
    if os.environ.get(MULTIPROC_DIR_VARIABLE):
        multiprocess.mark_process_dead(pid)
