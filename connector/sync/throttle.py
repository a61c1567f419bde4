"""Putting the shared rate limit in front of every CRM call an adapter makes, and counting
each call's outcome and the time spent waiting for the budget in the worker's metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.broker import redis_url
from connector.crm.types import CrmAdapter
from connector.metrics import CRM_BUDGET_WAIT, CRM_CALLS
from connector.sync.ratelimit import limiter_from_config


def throttle_adapter(adapter: CrmAdapter, config: Mapping[str, Any]) -> None:
    """Make each of the adapter's CRM calls wait for the budget shared by all workers, and
    count it by operation and outcome."""
    crm = adapter.crm
    base = str(config.get("HUBSPOT_BASE_URL") if crm == "hubspot"
               else config.get("SALESFORCE_INSTANCE_URL"))  # fmt: skip
    limiter = limiter_from_config(dict(config), redis_url(config), crm, base)

    def wait_for_budget(operation: str) -> None:
        waited = limiter.waited_seconds
        limiter.acquire(operation)
        if limiter.waited_seconds > waited:
            CRM_BUDGET_WAIT.labels(crm).inc(limiter.waited_seconds - waited)

    def count(operation: str, outcome: str) -> None:
        CRM_CALLS.labels(crm, operation, outcome).inc()

    adapter.calls.before_call = wait_for_budget
    adapter.calls.after_call = count
