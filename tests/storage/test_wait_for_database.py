"""Starting processes wait for the database: a worker started before PostgreSQL is up."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from connector.cli import main
from connector.storage.migrate import DatabaseUnavailable, upgrade
from tests.conftest import POSTGRES_ADMIN_URL, service_missing

pytestmark = pytest.mark.postgres


@pytest.fixture
def admin() -> object:
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        service_missing(f"PostgreSQL at {POSTGRES_ADMIN_URL} ({type(exc).__name__})")
    yield engine
    engine.dispose()


def _drop(admin: object, name: str) -> None:
    with admin.connect() as connection:  # type: ignore[attr-defined]
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_given_database_appearing_late_when_upgrading_with_wait_then_it_waits_and_migrates(
    admin: object,
):
    name = f"cx360_late_{os.getpid()}"
    _drop(admin, name)
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def create_later() -> None:
        time.sleep(1.5)
        with admin.connect() as connection:  # type: ignore[attr-defined]
            connection.execute(text(f'CREATE DATABASE "{name}"'))

    creator = threading.Thread(target=create_later)
    creator.start()
    try:
        upgrade(url, wait_seconds=30)
        creator.join()
        engine = create_engine(url)
        assert "responses" in inspect(engine).get_table_names()
        engine.dispose()
    finally:
        creator.join()
        _drop(admin, name)


def test_given_database_never_answering_when_starting_worker_then_clear_error_not_traceback(
    admin: object, monkeypatch: pytest.MonkeyPatch
):
    name = f"cx360_never_{os.getpid()}"
    _drop(admin, name)
    url = make_url(POSTGRES_ADMIN_URL).set(database=name, password="s3cret")
    monkeypatch.setenv("CX360_DATABASE_URL", url.render_as_string(hide_password=False))
    monkeypatch.setenv("CX360_CRM", "hubspot")
    started = time.monotonic()
    result = CliRunner().invoke(main, ["worker", "--wait-for-db", "1"])
    assert result.exit_code == 1
    assert time.monotonic() - started >= 1
    assert f"database {url.render_as_string(hide_password=True)}" in result.output
    assert "did not answer within 1 s" in result.output
    assert "s3cret" not in result.output and "Traceback" not in result.output
    with pytest.raises(DatabaseUnavailable):
        upgrade(url.render_as_string(hide_password=False), wait_seconds=0.5)


def test_given_sqlite_url_in_a_folder_not_made_yet_when_waiting_then_folder_made_and_migrated(
    tmp_path: Path,
):
    # CX360_INSTANCE_PATH=/srv/cx360/instance on a new host: the worker makes the folder
    # instead of waiting out --wait-for-db for a file nobody would create (issue 17.3);
    # before, this raised DatabaseUnavailable after the wait.
    folder = tmp_path / "srv" / "instance"
    upgrade(f"sqlite:///{folder / 'cx360.db'}", wait_seconds=5)
    engine = create_engine(f"sqlite:///{folder / 'cx360.db'}")
    assert "alembic_version" in inspect(engine).get_table_names()
    engine.dispose()
