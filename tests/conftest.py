"""Shared fixtures: the storage and API tests run on SQLite and on the machine's PostgreSQL.

PostgreSQL: a database of its own per test run (``cx360_test_<pid>``) on the server named by
CX360_TEST_POSTGRES_URL (default the local ``test`` database's server), dropped at the end.
When the server is missing the PostgreSQL cases are skipped with the reason, except under
CI=true, where they fail: CI must not pass without them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from connector.app import create_app, database
from connector.auth import create_api_key
from connector.storage import Base, Database, utcnow
from connector.storage.heartbeats import seed_heartbeats
from connector.storage.migrate import upgrade
from connector.storage.schema import create_schema

POSTGRES_ADMIN_URL = os.environ.get(
    "CX360_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def service_missing(what: str) -> None:
    """Skip locally, fail under CI, when a service a test needs is not there."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true", pytrace=False)
    pytest.skip(f"{what} not available")


@contextlib.contextmanager
def scratch_postgres(name: str) -> Iterator[str]:
    """A new, empty PostgreSQL database ``name`` on the test server; dropped afterwards."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        service_missing(f"PostgreSQL at {POSTGRES_ADMIN_URL} ({type(exc).__name__})")
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with scratch_postgres(f"cx360_test_{os.getpid()}") as url:
        upgrade(url)  # built by the migrations, as production is (workers run db upgrade too)
        yield url


def truncate_all(url: str) -> None:
    """Empty every table of the PostgreSQL test database (the schema stays)."""
    engine = create_engine(url)
    with engine.begin() as connection:
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        seed_heartbeats(connection, utcnow())  # as a new schema starts
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A clean, migrated-by-metadata database: SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cx360.db'}"
        create_schema(Database(url))
        return url
    url = request.getfixturevalue("postgres_url")
    truncate_all(url)
    return str(url)


def make_test_app(database_url: str, folder: Path, **settings: str) -> Iterator[Flask]:
    """The app the tests use, on ``database_url``, disposed of afterwards."""
    application = create_app(
        {
            "CX360_DATABASE_URL": database_url,
            "CX360_INSTANCE_PATH": str(folder / "instance"),
            "CX360_SECRET_KEY": "test-secret",
            "TESTING": True,
            **settings,
        }
    )
    yield application
    database(application).dispose()


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    yield from make_test_app(database_url, tmp_path)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_key(app: Flask) -> Callable[[str], dict[str, str]]:
    """Create an API key of a scope; returns the Authorization header for it."""

    def make(scope: str) -> dict[str, str]:
        with database(app).session() as session:
            _, key = create_api_key(session, scope, f"test {scope}")
        return {"Authorization": f"Bearer {key}"}

    return make


@pytest.fixture
def ingest_headers(make_key: Callable[[str], dict[str, str]]) -> dict[str, str]:
    return make_key("ingest")


@pytest.fixture
def read_headers(make_key: Callable[[str], dict[str, str]]) -> dict[str, str]:
    return make_key("read")


def count_rows(app: Flask, model: Any) -> int:
    from sqlalchemy import func, select

    with database(app).session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def score_outbox(app: Flask) -> None:
    """Score what ingest left in the outbox, as a worker's push does before writing the CRM.

    Ingest stores and answers; scorecards are the worker's job (DESIGN's data flow). Tests of
    the API and the pages that read scorecards run this step between ingest and the read; the
    pipeline tests run the real worker.
    """
    from sqlalchemy import select

    from connector.scorecards import recompute_scorecards
    from connector.scoring import ScoringConfig
    from connector.storage import OutboxItem, utcnow

    with database(app).session() as session:
        pending = session.execute(select(OutboxItem.subject_type, OutboxItem.subject_id)).all()
        recompute_scorecards(
            session,
            {sid for kind, sid in pending if kind == "contact"},
            {sid for kind, sid in pending if kind == "account"},
            now=utcnow(),
            config=ScoringConfig.from_config(app.config),
        )
        session.commit()
