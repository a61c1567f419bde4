"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from connector.storage import Base
from connector.storage.migrate import current_revision, head_revision, upgrade
from connector.storage.schema import create_schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrated.db'}"
    return _emptied_postgres(request)


@pytest.fixture
def empty_postgres(request: pytest.FixtureRequest) -> str:
    return _emptied_postgres(request)


def _emptied_postgres(request: pytest.FixtureRequest) -> str:
    """The test database with an empty schema; migrated back to head after the test."""
    url: str = request.getfixturevalue("postgres_url")
    _empty_schema(url)
    request.addfinalizer(lambda: _restore_schema(url))
    return url


def _empty_schema(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def _restore_schema(url: str) -> None:
    _empty_schema(url)
    upgrade(url)


def test_given_empty_database_when_upgrading_then_schema_matches_models(empty_database: str):
    upgrade(empty_database)
    assert current_revision(empty_database) is not None
    engine = create_engine(empty_database)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []


def test_given_migrated_database_when_upgrading_again_then_nothing_changes(empty_database: str):
    upgrade(empty_database)
    first = current_revision(empty_database)
    upgrade(empty_database)
    assert current_revision(empty_database) == first


FUNCTIONS = text(
    "SELECT p.proname, l.lanname, pg_get_functiondef(p.oid) FROM pg_proc p "
    "JOIN pg_language l ON l.oid = p.prolang JOIN pg_namespace n ON n.oid = p.pronamespace "
    "WHERE n.nspname = 'public' AND p.proname LIKE 'cx360%' ORDER BY p.proname"
)


def _functions(url: str) -> list[tuple[str, str, str]]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(FUNCTIONS)]
    engine.dispose()
    return rows  # type: ignore[return-value]


@pytest.mark.postgres
def test_given_migrated_database_then_its_functions_are_those_create_all_installs(
    empty_postgres: str,
):
    upgrade(empty_postgres)
    migrated = _functions(empty_postgres)
    _restore_schema_by_create_all(empty_postgres)
    assert migrated == _functions(empty_postgres)
    assert {name for name, _, _ in migrated} >= {"cx360_store_response", "cx360_write_outbox"}
    # every function in PL/pgSQL: a SQL-language one is planned again on every call
    assert {language for _, language, _ in migrated} == {"plpgsql"}


@pytest.mark.postgres
def test_given_head_when_downgrading_0005_then_outbox_function_is_sql_again_and_upgrade_restores(
    empty_postgres: str,
):
    from alembic import command

    from connector.storage.migrate import alembic_config

    upgrade(empty_postgres)
    head = _functions(empty_postgres)
    command.downgrade(alembic_config(empty_postgres), "0004")
    languages = {name: language for name, language, _ in _functions(empty_postgres)}
    assert languages["cx360_write_outbox"] == "sql"
    upgrade(empty_postgres)
    assert _functions(empty_postgres) == head


def _restore_schema_by_create_all(url: str) -> None:
    from connector.storage import Database

    _empty_schema(url)
    database = Database(url)
    create_schema(database)
    database.dispose()


def _db_command(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``cx360 db ...`` as an operator runs it, against ``url``."""
    env = {**os.environ, "CX360_DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "connector.cli", "db", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def test_given_schema_behind_when_checking_then_exit_1_names_revisions_until_upgraded(
    empty_database: str,
):
    head = head_revision()
    empty = _db_command(empty_database, "check")
    assert empty.returncode == 1
    assert f"none (empty), this release needs {head}: run cx360 db upgrade" in empty.stderr
    upgrade(empty_database, "0005")  # an older release's schema
    behind = _db_command(empty_database, "check")
    assert behind.returncode == 1 and "at revision 0005" in behind.stderr
    current = _db_command(empty_database, "current")
    assert current.returncode == 0 and "at revision 0005" in current.stdout
    assert f"this release: {head} (behind" in current.stdout
    upgrade(empty_database)
    done = _db_command(empty_database, "check")
    assert done.returncode == 0, done.stderr
    assert f"is at {head}, the newest revision" in done.stdout


def test_given_unreachable_database_when_checking_then_one_line_and_no_traceback():
    down = _db_command("postgresql+psycopg://cx360@127.0.0.1:1/cx360", "check")
    assert down.returncode == 1
    assert down.stderr.startswith(
        "Error: database postgresql+psycopg://cx360@127.0.0.1:1/cx360 not reachable"
    )
    assert "Traceback" not in down.stderr and len(down.stderr.strip().splitlines()) == 1
