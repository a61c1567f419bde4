"""After ingest commits: ask for a relay soon, at most once per coalescing window.

Best effort by design: when the broker is down the data and its outbox rows are already
committed, and the worker's periodic relay (beat) picks them up once it is back.
"""

from __future__ import annotations

import logging
import time

from flask import current_app

from connector.broker import redis_client, redis_url

log = logging.getLogger(__name__)
KICK_KEY = "cx360:relay-kick"
# After a failed kick, skip kicking this long: an outage must not slow every ingest request.
QUIET_AFTER_FAILURE_SECONDS = 5.0


def kick_relay() -> bool:
    """Schedule a relay after the coalescing window unless one is already scheduled."""
    celery = current_app.extensions.get("celery")
    if celery is None:
        return False
    window = float(current_app.config["CX360_COALESCE_SECONDS"])
    state = current_app.extensions.setdefault("cx360.kick_state", {"quiet_until": 0.0})
    now = time.monotonic()
    if now < state["quiet_until"]:
        return False
    try:
        client = current_app.extensions.get("cx360.kick_redis")
        if client is None:
            client = redis_client(redis_url(current_app.config, start=False), fail_fast=True)
            current_app.extensions["cx360.kick_redis"] = client
        pipe = client.pipeline(transaction=False)
        pipe.set(KICK_KEY, "1", nx=True, px=max(1, int(window * 1000)))
        pipe.pttl(KICK_KEY)
        created, left_ms = pipe.execute()
        # Whoever set the key, a relay runs when it expires and takes every change committed
        # until then: this process need not ask Redis again before that.
        state["quiet_until"] = now + max(0, left_ms) / 1000
        if not created:
            return False
        celery.send_task("cx360.relay_outbox", kwargs={"kicked": True}, countdown=window,
                        retry=False)  # fmt: skip
        return True
    except Exception as exc:
        state["quiet_until"] = time.monotonic() + QUIET_AFTER_FAILURE_SECONDS
        log.info("relay not kicked (%s); the periodic relay will pick the changes up",
                 type(exc).__name__)  # fmt: skip
        return False
