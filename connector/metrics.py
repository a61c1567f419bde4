"""Prometheus metrics, defined once per process (the registry is global)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
