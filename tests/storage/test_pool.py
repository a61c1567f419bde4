"""The PostgreSQL pool pings only connections that sat idle (connector.storage.db)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

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
