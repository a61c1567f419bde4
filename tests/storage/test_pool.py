"""The PostgreSQL pool pings only connections that sat idle (connector.storage.db)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from connector.storage import Database
from connector.storage import db as db_module

pytestmark = pytest.mark.postgres


def _kill_backends(url: str) -> None:
    """Terminate the pool's server connections, as a database restart does."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ))  # fmt: skip
    admin.dispose()


def _backend_pid(database: Database) -> int:
    with database.engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_given_idle_connection_killed_when_checked_out_then_ping_replaces_it(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
):
    database = Database(postgres_url, pool_size=1, max_overflow=0)
    first = _backend_pid(database)
    _kill_backends(postgres_url)
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 0.0)  # every checkout counts as idle
    assert _backend_pid(database) != first, "the dead connection was pinged and replaced"
    database.dispose()


def test_given_busy_connection_killed_when_used_then_one_error_and_pool_recovers(
    postgres_url: str,
):
    database = Database(postgres_url, pool_size=1, max_overflow=0)
    first = _backend_pid(database)
    _kill_backends(postgres_url)
    # used a moment ago, so not pinged: the statement fails (the API answers 503) ...
    with pytest.raises(OperationalError):
        _backend_pid(database)
    # ... and SQLAlchemy dropped the pool's old connections: the next request is served
    assert _backend_pid(database) != first
    database.dispose()


def test_given_steady_use_when_checked_out_then_no_ping_is_sent(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
):
    database = Database(postgres_url, pool_size=1, max_overflow=0)
    pings: list[object] = []
    real_ping = database.engine.dialect.do_ping

    def counted_ping(connection: object) -> bool:
        pings.append(connection)
        return bool(real_ping(connection))

    monkeypatch.setattr(database.engine.dialect, "do_ping", counted_ping)
    for _ in range(3):
        _backend_pid(database)
    assert pings == [], "a connection in steady use is not pinged"
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 0.0)
    _backend_pid(database)
    assert len(pings) == 1, "one idle long enough is"
    database.dispose()


# -- Database.scalar_committed: a driver cursor past Core, with Core's errors and pool care ---


def test_given_busy_connection_killed_when_scalar_committed_then_one_error_and_pool_recovers(
    postgres_url: str,
):
    database = Database(postgres_url, pool_size=1, max_overflow=0)
    first = database.scalar_committed("SELECT pg_backend_pid()", ())
    _kill_backends(postgres_url)
    with pytest.raises(OperationalError) as raised:  # the API's 503, as on the Core path
        database.scalar_committed("SELECT pg_backend_pid()", ())
    assert raised.value.connection_invalidated
    assert database.scalar_committed("SELECT pg_backend_pid()", ()) not in (None, first)
    database.dispose()


def test_given_server_down_when_scalar_committed_then_operational_error(postgres_url: str):
    down = make_url(postgres_url).set(port=1).render_as_string(hide_password=False)
    database = Database(down, pool_size=1, max_overflow=0)
    with pytest.raises(OperationalError):  # not the driver's own error: the 503 handler's
        database.scalar_committed("SELECT 1", ())
    database.dispose()


def test_given_failed_statement_when_scalar_committed_then_core_error_and_connection_reusable(
    postgres_url: str,
):
    database = Database(postgres_url, pool_size=1, max_overflow=0)
    with database.engine.begin() as connection:
        connection.execute(text("CREATE TEMP TABLE IF NOT EXISTS once (k int PRIMARY KEY)"))
    statement = "INSERT INTO once VALUES (%s) RETURNING k"
    assert database.scalar_committed(statement, (1,)) == 1
    with pytest.raises(IntegrityError):  # what retry_unique_race catches
        database.scalar_committed(statement, (1,))
    # the same pooled connection, back in transactions: a rollback undoes its insert
    with database.engine.connect() as connection:
        connection.execute(text("INSERT INTO once VALUES (2)"))
        connection.rollback()
        keys = connection.execute(text("SELECT k FROM once ORDER BY k")).scalars().all()
    assert keys == [1]
    database.dispose()
