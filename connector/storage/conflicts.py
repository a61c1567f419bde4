"""Transactions that lost a race with another one: what they are, and running them again.

A concurrent writer can make a transaction fail although the database is up and the same
transaction, run again, succeeds:

- a unique-key race: two writers create the same ``(source, external_id)``, contact or
  delivery id, and one fails its unique constraint (``23505``); run again, it finds the other's
  committed row. One retry is enough.
- a deadlock (``40P01``) or a serialization failure (``40001``): PostgreSQL aborts one of two
  transactions that wait for each other. Run again after a short, jittered pause (so the two do
  not collide again in step), it goes through. A few retries.

``retry_transaction`` is the one mechanism for both (tenacity's ``Retrying``). What fails for
another reason, or keeps failing, is raised: the API answers 503 for an unreachable database
or retries exhausted, logging the cause with ``describe`` (SQLSTATE and the driver's primary
message, which carries no values from the request, unlike its DETAIL line).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from tenacity import RetryCallState, Retrying, wait_random_exponential

from connector.metrics import DATABASE_RETRIES
from connector.storage.models import utcnow

log = logging.getLogger(__name__)
R = TypeVar("R")

#: SQLSTATEs of a transaction aborted for a conflict with a concurrent one.
CONFLICT_SQLSTATES = {"40P01": "deadlock", "40001": "serialization failure"}
UNIQUE_RACE_ATTEMPTS = 2
CONFLICT_ATTEMPTS = 5
#: Jittered exponential pause between attempts: up to 20 ms, 40 ms, ... at most 0.5 s.
CONFLICT_WAIT = wait_random_exponential(multiplier=0.02, max=0.5)


def sqlstate(exc: BaseException) -> str | None:
    """The driver's SQLSTATE (psycopg), or SQLite's error name; None if there is neither."""
    driver_error = getattr(exc, "orig", exc)
    return getattr(driver_error, "sqlstate", None) or getattr(
        driver_error, "sqlite_errorname", None
    )


def describe(exc: BaseException) -> str:
    """``SQLSTATE <code>: <driver's primary message>`` for a log line, without request values.

    psycopg's primary message names the constraint or the conflict, never the row; the values
    are in its DETAIL, which is left out. Other drivers give their message's first line.
    """
    driver_error = getattr(exc, "orig", None) or exc
    diag = getattr(driver_error, "diag", None)
    message = getattr(diag, "message_primary", None) or (
        str(driver_error).splitlines()[0] if str(driver_error) else type(driver_error).__name__
    )
    code = f"SQLSTATE {sqlstate(exc)}" if sqlstate(exc) else "no SQLSTATE"
    return f"{code} ({type(driver_error).__name__}): {message}"


def is_conflict(exc: BaseException) -> bool:
    """A deadlock or serialization failure: the same transaction run again succeeds."""
    return isinstance(exc, DBAPIError) and sqlstate(exc) in CONFLICT_SQLSTATES


def _attempts_for(exc: BaseException | None) -> int:
    if isinstance(exc, IntegrityError):
        return UNIQUE_RACE_ATTEMPTS
    if exc is not None and is_conflict(exc):
        return CONFLICT_ATTEMPTS
    return 1


def _failed_with(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome and state.outcome.failed else None


def _log_retry(state: RetryCallState) -> None:
    exc = _failed_with(state)
    if exc is None:  # pragma: no cover - only failed attempts are retried
        return
    DATABASE_RETRIES.labels(sqlstate(exc) or "unknown").inc()
    log.warning("transaction attempt %d lost a race, running it again: %s",
                state.attempt_number, describe(exc))  # fmt: skip


def retry_transaction(
    work: Callable[[datetime], R], *, undo: Callable[[], None], attempts: int | None = None
) -> R:
    """Run ``work(now)``; after a unique-key race, deadlock or serialization failure, ``undo``
    (roll back) and run it again, as described above. ``attempts`` caps every kind."""
    cap = attempts or max(UNIQUE_RACE_ATTEMPTS, CONFLICT_ATTEMPTS)
    retrying = Retrying(
        retry=lambda state: _attempts_for(_failed_with(state)) > 1,
        stop=lambda state: state.attempt_number >= min(cap, _attempts_for(_failed_with(state))),
        wait=CONFLICT_WAIT,
        before_sleep=_log_retry,
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            try:
                return work(utcnow())
            except BaseException:
                undo()
                raise
    raise AssertionError("Retrying ends with a result or the last error")  # pragma: no cover
