"""Putting a task back after a transient CRM error: when, and counted in the worker's metrics."""

from __future__ import annotations

import logging
from typing import Any

from connector.crm.errors import RetriableCrmError, call_outcome
from connector.metrics import TASK_BACKOFF, TASK_RETRIES

log = logging.getLogger(__name__)


def retry_later(task: Any, exc: RetriableCrmError, fallback_seconds: float, what: str) -> Exception:
    """The bound task's ``retry`` after the CRM's Retry-After, else ``fallback_seconds``; raise
    what it returns. Counted by kind (``rate_limited``, ``server_error``, ...) and delay."""
    delay = exc.retry_after if exc.retry_after is not None else fallback_seconds
    TASK_RETRIES.labels(task.name, call_outcome(exc.status, exc.code)).inc()
    TASK_BACKOFF.labels(task.name).inc(delay)
    log.warning("%s retried in %.1f s: %s", what, delay, exc)
    return task.retry(countdown=delay, exc=exc)
