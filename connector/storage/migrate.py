"""Running the Alembic migrations shipped inside the package (``cx360 db upgrade``)."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config

from connector.storage.db import Database

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic interpolates %; a password may contain one.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head", *, wait_seconds: float = 0) -> None:
    """Migrate to ``revision``; first wait up to ``wait_seconds`` for the database to answer.

    Workers and servers start with this, often together with the database (a container
    platform, a reboot): they wait for it instead of exiting.
    """
    if wait_seconds > 0:
        wait_for_database(database_url, wait_seconds)
    Database(database_url).dispose()  # creates the SQLite file's folder when needed
    command.upgrade(alembic_config(database_url), revision)


class DatabaseUnavailable(RuntimeError):
    """The database did not answer within the wait."""


def wait_for_database(database_url: str, seconds: float) -> None:
    """Connect until the database answers, backing off up to 5 s between tries."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError
    from tenacity import (
        RetryError,
        Retrying,
        retry_if_exception_type,
        stop_after_delay,
        wait_exponential,
    )

    shown = make_url(database_url).render_as_string(hide_password=True)
    engine = Database(database_url).engine  # an SQLite file's folder is made, not waited for
    retrying = Retrying(
        retry=retry_if_exception_type(OperationalError),
        wait=wait_exponential(multiplier=0.25, max=5),
        stop=stop_after_delay(seconds),
        before_sleep=lambda state: log.warning(
            "database %s not reachable yet (%s); retrying", shown,
            type(state.outcome.exception()).__name__ if state.outcome else "?",
        ),
    )  # fmt: skip
    try:
        for attempt in retrying:
            with attempt, engine.connect() as connection:
                connection.execute(text("SELECT 1"))
    except RetryError as exc:
        cause = exc.last_attempt.exception()
        raise DatabaseUnavailable(
            f"database {shown} did not answer within {seconds:g} s: {cause}"
        ) from cause
    finally:
        engine.dispose()


def revision_of(connection: Connection) -> str | None:
    """The schema revision recorded in the database on ``connection`` (None: not migrated)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def current_revision(database_url: str) -> str | None:
    from sqlalchemy import create_engine

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return revision_of(connection)
    finally:
        engine.dispose()


@functools.cache
def head_revision() -> str:
    """The newest migration shipped in this release (read once per process)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "the package ships no migrations"
    return head


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema is, against this release: ``cx360 db check`` and the
    readiness probe both judge it with this."""

    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    @property
    def problem(self) -> str | None:
        """None when up to date, else what is wrong and what to do, in one line."""
        if self.up_to_date:
            return None
        return (f"schema at revision {self.current or 'none (empty)'}, this release needs "
                f"{self.head}: run cx360 db upgrade")  # fmt: skip


def schema_state(connection: Connection) -> SchemaState:
    return SchemaState(revision_of(connection), head_revision())


def stamp_head(connection: Connection) -> None:
    """Record this release's newest revision in a schema built from the models
    (``create_schema``), as Alembic's "create_all, then stamp" recipe does."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    MigrationContext.configure(connection).stamp(scripts, "head")
