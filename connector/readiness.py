"""Readiness: can this deployment do its work? ``/readyz`` and ``cx360 status`` answer with it.

Four checks, each "ok" or the reason in one line:
- ``database``: it answers;
- ``schema``: it is at this release's newest migration (the same judgement as ``cx360 db
  check``), otherwise the API would answer 500s;
- ``broker``: it accepts a connection within a short timeout; the answer is kept a few
  seconds per process, so a storm of probes does not become a storm of connections;
- ``relay``: the outbox relay (scheduled by ``cx360 beat``) ran within
  ``CX360_RELAY_STALE_SECONDS``; when beat is down, accepted data is no longer pushed.

Before the relay's first run after the schema was created or upgraded, the relay check says
"no relay run yet" and counts as ready for ``CX360_RELAY_STALE_SECONDS`` (services start in
any order; beat's first run comes within one relay interval); after that it fails.

The database, schema and relay checks share one pooled connection and two small queries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from connector.broker import redis_client
from connector.storage.db import Database
from connector.storage.heartbeats import RELAY, Heartbeat, read_heartbeat
from connector.storage.migrate import schema_state

OK = "ok"
NO_RELAY_RUN_YET = "no relay run yet"
#: How long one process trusts its last broker check.
BROKER_CHECK_CACHE_SECONDS = 5.0
#: How long the broker may take to accept a connection before it counts as unreachable.
BROKER_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(
            detail == OK or (name == RELAY and detail == NO_RELAY_RUN_YET)
            for name, detail in self.checks.items()
        )

    def as_json(self) -> dict[str, Any]:
        return {"status": "ready" if self.ready else "not ready", "checks": self.checks}


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    text = (str(cause).strip().splitlines() or [""])[0][:200]
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


def relay_stale_after(config: Mapping[str, Any]) -> timedelta:
    interval = float(config.get("CX360_RELAY_INTERVAL_SECONDS", 10.0))
    return timedelta(seconds=max(float(config.get("CX360_RELAY_STALE_SECONDS", 60.0)),
                                 2 * interval))  # fmt: skip


def relay_check(heartbeat: Heartbeat | None, *, now: datetime, stale_after: timedelta) -> str:
    """The relay's state from its heartbeat: "ok", "no relay run yet" (within the grace
    period after the schema was made or upgraded) or why beat seems down."""
    hint = "is cx360 beat running?"
    limit = f"{stale_after.total_seconds():g} s"
    if heartbeat is None or heartbeat.beat_at is None:
        if heartbeat is not None and now - heartbeat.expected_since < stale_after:
            return NO_RELAY_RUN_YET
        since = f" since {heartbeat.expected_since:%Y-%m-%d %H:%M:%S} UTC" if heartbeat else ""
        return f"no relay run{since} (more than {limit}): {hint}"
    age = now - heartbeat.beat_at
    if age > stale_after:
        return (f"last relay run {age.total_seconds():.0f} s ago (at "
                f"{heartbeat.beat_at:%Y-%m-%d %H:%M:%S} UTC; limit {limit}): {hint}")  # fmt: skip
    return OK


def database_checks(database: Database, *, now: datetime, stale_after: timedelta) -> dict[str, str]:
    """database, schema and relay, on one pooled connection."""
    try:
        with database.engine.connect() as connection:
            schema = schema_state(connection)
            if schema.problem:
                relay = "not checked: the schema is not current"
            else:
                relay = relay_check(read_heartbeat(connection, RELAY), now=now,
                                    stale_after=stale_after)  # fmt: skip
    except SQLAlchemyError as exc:
        skipped = "not checked: the database is unreachable"
        return {"database": f"unreachable: {_first_line(exc)}", "schema": skipped,
                "relay": skipped}  # fmt: skip
    return {"database": OK, "schema": schema.problem or OK, "relay": relay}


def _probe_broker(url: str) -> str:
    try:
        if url.startswith(("redis://", "rediss://", "redis+socket://")):
            client = redis_client(url, fail_fast=True)
            try:
                client.ping()
            finally:
                client.close()
        else:
            from kombu import Connection

            with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS) as connection:
                connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure to connect means: not reachable
        return f"unreachable: {_first_line(exc)}"
    return OK


class BrokerCheck:
    """The broker check, its answer kept ``BROKER_CHECK_CACHE_SECONDS`` per URL."""

    def __init__(self, keep_seconds: float = BROKER_CHECK_CACHE_SECONDS) -> None:
        self.keep_seconds = keep_seconds
        self._lock = threading.Lock()
        self._answers: dict[str, tuple[float, str]] = {}

    def __call__(self, url: str) -> str:
        with self._lock:  # concurrent probes wait for one connection attempt
            checked = self._answers.get(url)
            if checked is None or time.monotonic() - checked[0] >= self.keep_seconds:
                checked = (time.monotonic(), _probe_broker(url))
                self._answers[url] = checked
            return checked[1]


broker_check = BrokerCheck()


def check_readiness(
    config: Mapping[str, Any], database: Database, broker_url: str, *, now: datetime
) -> Readiness:
    checks = database_checks(database, now=now, stale_after=relay_stale_after(config))
    checks["broker"] = broker_check(broker_url)
    return Readiness(checks)
