"""Prometheus metrics, defined once per process (the registry is global).

Under gunicorn (several processes) each process counts on its own; with
``PROMETHEUS_MULTIPROC_DIR`` set (``cx360 serve`` sets it itself) every process writes its
values to files there and a scrape of any process adds up all of them (``scrape_registry``).
``prepare_multiprocess_dir`` turns it on in a process that has imported this module already.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess, values

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


def forget_process(pid: int) -> None:
    """A worker process ended (gunicorn's ``child_exit``): drop its live gauges' files."""
    if os.environ.get(MULTIPROC_DIR_VARIABLE):
        multiprocess.mark_process_dead(pid)
