"""One request budget per CRM connection, shared by every worker process.

The budget lives in Redis (the broker's, or the embedded one), as a moving window kept by the
``limits`` library, so two workers together stay under e.g. HubSpot's 190 requests per 10 s.
Celery's own ``rate_limit`` is per worker and cannot do this.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from limits import RateLimitItem, RateLimitItemPerSecond, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)

# Calls kept back from each window's limit for arrival jitter (see SharedRateLimit).
HEADROOM_SHARE = 0.05
MIN_HEADROOM = 2
DEFAULT_LIMITS = {
    # HubSpot Professional/Enterprise: 190 requests per rolling 10 s per app.
    "hubspot": "190 per 10 seconds",
    # Salesforce counts a rolling 24 h allocation (15,000 on a Developer Edition); cx360 takes
    # a share of it so the org's other integrations keep theirs.
    "salesforce": "20 per second; 5000 per day",
}


def headroom_amount(limit: int) -> int:
    """What cx360 sends per window of a CRM limit of ``limit`` calls (190 -> 180)."""
    return max(1, limit - max(MIN_HEADROOM, math.ceil(limit * HEADROOM_SHARE)))


def storage_url(redis_url: str) -> str:
    """``limits`` names Unix-socket Redis ``redis+unix://``; Celery/kombu say ``redis+socket``."""
    if redis_url.startswith("redis+socket://"):
        return "redis+unix://" + redis_url.removeprefix("redis+socket://")
    return redis_url


class SharedRateLimit:
    """Blocks callers until the shared budget has room for one more request."""

    def __init__(
        self,
        redis_url: str,
        key: str,
        limits_text: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = key
        # The CRM counts a request when it arrives, cx360 when it leaves: a request sent at the
        # end of one window can arrive inside the next. Each worker has one request in flight,
        # so only a few can be shifted so: keeping 5 % of each window's calls (at least 2)
        # back covers them without giving up a tenth of the budget as a longer window did.
        self.items: list[RateLimitItem] = [
            RateLimitItemPerSecond(headroom_amount(item.amount), item.get_expiry())
            for item in parse_many(limits_text)
        ]
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_url(redis_url)))
        self._sleep = sleep
        self._clock = clock
        self.waited_seconds = 0.0

    def acquire(self, _operation: str = "") -> None:
        while True:
            blocked = [item for item in self.items if not self.limiter.test(item, self.key)]
            if not blocked and all(self.limiter.hit(item, self.key) for item in self.items):
                return
            wait = max(
                0.01,
                max(
                    self.limiter.get_window_stats(item, self.key).reset_time - self._clock()
                    for item in (blocked or self.items)
                ),
            )
            wait = min(wait, 5.0)
            self.waited_seconds += wait
            self._sleep(wait)

    def __call__(self, operation: str = "") -> None:
        self.acquire(operation)


def limiter_from_config(config: dict[str, Any], redis_url: str, crm: str, base_url: str
                        ) -> SharedRateLimit:  # fmt: skip
    text = config.get("CX360_CRM_RATE_LIMIT") or DEFAULT_LIMITS[crm]
    return SharedRateLimit(redis_url, f"cx360:{crm}:{base_url}", text)
