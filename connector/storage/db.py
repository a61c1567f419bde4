"""The database handle: one engine and session factory per configured URL.

Flask-independent on purpose, so the Celery tasks and the CLI open sessions the same way the
web app does. SQLite (the embedded default) gets WAL and a busy timeout so the web process and
a worker process can share the file.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

# A pooled connection idle longer than this is pinged before use (see ``_ping_if_idle``).
IDLE_PING_SECONDS = 5.0


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _mark_checked_in(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(engine: Engine) -> Any:
    """A checkout listener that pings a pooled connection that sat idle, before handing it out.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip on every request,
    a fifth of a one-response ingest. A connection in steady use is alive; one that sat idle
    may have outlived a database restart or a proxy's idle timeout, so only that one is
    pinged. A connection that breaks while in use (the database restarted under load) fails
    its statement instead: the API answers 503 with Retry-After, and SQLAlchemy then discards
    every connection of the pool made before the failure.
    """

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)  # leaves no transaction open
        except Exception as exc:
            raise DisconnectionError(f"pooled connection is dead ({type(exc).__name__})") from exc

    return checkout


class Database:
    """Engine plus session factory for one URL."""

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine_options.setdefault("connect_args", {"timeout": 30})
        else:
            engine_options.setdefault("pool_size", 10)
            engine_options.setdefault("max_overflow", 20)
        self.engine: Engine = create_engine(url, **engine_options)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        elif not engine_options.get("pool_pre_ping"):
            event.listen(self.engine, "checkin", _mark_checked_in)
            event.listen(self.engine, "checkout", _ping_if_idle(self.engine))
        # Single statements that commit themselves (a key lookup, a one-item ingest).
        self.autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def scalar_committed(self, statement: str, params: Sequence[Any]) -> Any:
        """Run one self-committing statement (driver placeholders) and return its one value.

        For the hottest single statements (a one-item ingest): a pooled connection's driver
        cursor in autocommit, without SQLAlchemy's Connection and Result, which cost more
        client CPU than the round trip itself. psycopg prepares the statement once it has
        run a few times on a connection, as on the Core path (the connection's
        ``prepare_threshold`` decides, not this call). Driver errors are raised as
        SQLAlchemy's (``IntegrityError``, ``OperationalError`` …), as the Core path raises
        them; a connection that broke is dropped from the pool.
        """
        dialect = self.engine.dialect
        driver_error = dialect.loaded_dbapi.Error

        def wrapped(exc: Exception, broken: bool) -> BaseException:
            return DBAPIError.instance(statement, params, exc, driver_error,
                                       connection_invalidated=broken, dialect=dialect)  # fmt: skip

        try:
            pooled = self.engine.raw_connection()
        except driver_error as exc:  # could not connect: the pool raises the driver's error
            raise wrapped(exc, True) from exc
        driver = pooled.driver_connection
        assert driver is not None
        try:
            driver.autocommit = True
            with driver.cursor() as cursor:
                cursor.execute(statement, params)
                row = cursor.fetchone()
            driver.autocommit = False
        except driver_error as exc:
            broken = dialect.is_disconnect(exc, driver, None)
            if broken:
                pooled.invalidate(exc)
            else:
                driver.autocommit = False  # idle again: the statement committed or failed
            raise wrapped(exc, broken) from exc
        finally:
            pooled.close()
        return row[0] if row else None

    def dispose(self) -> None:
        self.engine.dispose()
