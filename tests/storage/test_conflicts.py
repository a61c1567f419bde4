"""Transactions that lose a race are run again (connector.storage.conflicts), on PostgreSQL.

PostgreSQL aborts a SERIALIZABLE / REPEATABLE READ transaction whose row was updated by a
concurrent committed one with SQLSTATE 40001, and one of two deadlocked ones with 40P01:
https://www.postgresql.org/docs/current/transaction-iso.html#XACT-REPEATABLE-READ
https://www.postgresql.org/docs/current/errcodes-appendix.html
"""

from __future__ import annotations

import logging
from datetime import datetime

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from connector.storage import Database
from connector.storage.conflicts import CONFLICT_ATTEMPTS, describe, retry_transaction

pytestmark = pytest.mark.postgres


@pytest.fixture
def counter_db(postgres_url: str):
    database = Database(postgres_url)
    with database.engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS race_counter"))
        connection.execute(text("CREATE TABLE race_counter (id int PRIMARY KEY, n int)"))
        connection.execute(text("INSERT INTO race_counter VALUES (1, 0)"))
    yield database
    with database.engine.begin() as connection:
        connection.execute(text("DROP TABLE race_counter"))
    database.dispose()


def _retried(sqlstate: str) -> float:
    value = REGISTRY.get_sample_value("cx360_database_retries_total", {"sqlstate": sqlstate})
    return value or 0.0


def test_given_a_serialization_failure_when_run_then_retried_with_its_sqlstate_logged(
    counter_db: Database, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING, logger="connector.storage.conflicts")
    retried_before = _retried("40001")
    attempts: list[int] = []
    session = counter_db.sessions()

    def increment(_now: datetime) -> int:
        attempts.append(1)
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        value = session.execute(text("SELECT n FROM race_counter WHERE id = 1")).scalar_one()
        if len(attempts) == 1:  # a concurrent writer commits after our snapshot was taken
            with counter_db.engine.begin() as other:
                other.execute(text("UPDATE race_counter SET n = n + 100 WHERE id = 1"))
        session.execute(text("UPDATE race_counter SET n = :n WHERE id = 1"), {"n": value + 1})
        session.commit()
        return int(value + 1)

    try:
        assert retry_transaction(increment, undo=session.rollback) == 101
    finally:
        session.close()
    assert len(attempts) == 2
    assert _retried("40001") == retried_before + 1
    [logged] = [r.getMessage() for r in caplog.records if r.name == "connector.storage.conflicts"]
    assert "SQLSTATE 40001" in logged and "could not serialize access" in logged, logged


def test_given_a_conflict_every_time_when_run_then_raised_after_the_last_attempt(
    counter_db: Database,
):
    attempts: list[int] = []
    undone: list[int] = []

    def always_deadlocked(_now: datetime) -> None:
        attempts.append(1)
        with counter_db.engine.connect() as connection:
            # PostgreSQL's own error for this SQLSTATE, raised by the server
            connection.execute(text(
                "DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40P01', "
                "MESSAGE = 'deadlock detected'; END $$"
            ))  # fmt: skip

    with pytest.raises(OperationalError) as raised:
        retry_transaction(always_deadlocked, undo=lambda: undone.append(1))
    assert len(attempts) == CONFLICT_ATTEMPTS == len(undone)
    assert describe(raised.value) == "SQLSTATE 40P01 (DeadlockDetected): deadlock detected"


def test_given_another_database_error_when_run_then_raised_at_once(counter_db: Database):
    attempts: list[int] = []

    def broken(_now: datetime) -> None:
        attempts.append(1)
        with counter_db.engine.connect() as connection:
            connection.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(Exception, match="no_such_table"):
        retry_transaction(broken, undo=lambda: None)
    assert attempts == [1]
