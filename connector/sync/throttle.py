"""Putting the shared rate limit in front of every CRM call an adapter makes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.broker import redis_url
from connector.crm.types import CrmAdapter
from connector.sync.ratelimit import limiter_from_config


def throttle_adapter(adapter: CrmAdapter, config: Mapping[str, Any]) -> None:
    """Make each of the adapter's CRM calls wait for the budget shared by all workers."""
    base = str(config.get("HUBSPOT_BASE_URL") if adapter.crm == "hubspot"
               else config.get("SALESFORCE_INSTANCE_URL"))  # fmt: skip
    limiter = limiter_from_config(dict(config), redis_url(config), adapter.crm, base)
    adapter.calls.before_call = limiter.acquire
