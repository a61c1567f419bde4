"""/readyz and ``cx360 status`` (issue 17.2): 503 with the reasons on a real PostgreSQL when the
schema is not migrated, the broker is down or the relay stopped; 200 when all is well."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import update

from connector.app import database
from connector.readiness import NO_RELAY_RUN_YET, OK, Readiness, relay_check
from connector.storage import ServiceHeartbeat, utcnow
from connector.storage.heartbeats import Heartbeat
from connector.storage.migrate import head_revision, upgrade
from tests.conftest import make_test_app, scratch_postgres
from tests.pipeline.conftest import REDIS_TEST_URL, redis_available
from tests.reliability.harness import free_port

STALE = timedelta(seconds=60)
NOW = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


@pytest.fixture
def empty_postgres_database() -> Iterator[str]:
    """A database of its own, empty (never migrated), dropped afterwards."""
    with scratch_postgres(f"cx360_readyz_{os.getpid()}") as url:
        yield url


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (the broker is down)."""
    return free_port()


def _app(url: str, tmp_path: Path, broker: str) -> Iterator[Flask]:
    return make_test_app(url, tmp_path, CX360_BROKER_URL=broker)


def _run_relay(app: Flask) -> None:
    """One run of the real relay task, as beat sends it."""
    from tasks.sync import relay_outbox

    with app.app_context():
        relay_outbox.run()


def _relay_ran_ago(app: Flask, age: timedelta) -> None:
    with database(app).session() as session:
        session.execute(update(ServiceHeartbeat).values(beat_at=utcnow() - age))


@pytest.mark.postgres
def test_given_unmigrated_database_when_probing_then_503_names_schema_and_the_command(
    empty_postgres_database: str, tmp_path: Path
):
    redis_available(REDIS_TEST_URL)
    for app in _app(empty_postgres_database, tmp_path, REDIS_TEST_URL):
        reply = app.test_client().get("/readyz")
        assert reply.status_code == 503, reply.json
        checks = reply.json["checks"]
        assert reply.json["status"] == "not ready"
        assert checks["database"] == OK and checks["broker"] == OK
        assert checks["schema"] == (
            f"schema at revision none (empty), this release needs {head_revision()}: "
            "run cx360 db upgrade"
        )
        upgrade(empty_postgres_database, "0007")  # an older release's schema
        behind = app.test_client().get("/readyz")
        assert behind.status_code == 503
        assert behind.json["checks"]["schema"].startswith("schema at revision 0007,")


@pytest.mark.postgres
def test_given_migrated_database_broker_up_and_relay_running_when_probing_then_200(
    empty_postgres_database: str, tmp_path: Path
):
    redis_available(REDIS_TEST_URL)
    upgrade(empty_postgres_database)
    for app in _app(empty_postgres_database, tmp_path, REDIS_TEST_URL):
        fresh = app.test_client().get("/readyz")
        # just migrated: the relay's first run is still to come, and that is ready
        assert fresh.status_code == 200, fresh.json
        assert fresh.json["checks"]["relay"] == NO_RELAY_RUN_YET
        _run_relay(app)
        reply = app.test_client().get("/readyz")
        assert reply.status_code == 200, reply.json
        assert reply.json == {
            "status": "ready",
            "checks": {"database": OK, "schema": OK, "relay": OK, "broker": OK},
        }


@pytest.mark.postgres
def test_given_broker_down_when_probing_then_503_names_broker(
    empty_postgres_database: str, tmp_path: Path, closed_port: int
):
    upgrade(empty_postgres_database)
    for app in _app(empty_postgres_database, tmp_path, f"redis://127.0.0.1:{closed_port}/0"):
        _run_relay(app)  # nothing pending: it sends no task, so it runs with the broker down
        reply = app.test_client().get("/readyz")
        assert reply.status_code == 503, reply.json
        checks = reply.json["checks"]
        assert checks["broker"].startswith("unreachable: ConnectionError"), checks
        assert checks["database"] == checks["schema"] == checks["relay"] == OK


@pytest.mark.postgres
def test_given_relay_stopped_when_probing_then_503_says_when_it_last_ran(
    empty_postgres_database: str, tmp_path: Path
):
    redis_available(REDIS_TEST_URL)
    upgrade(empty_postgres_database)
    for app in _app(empty_postgres_database, tmp_path, REDIS_TEST_URL):
        _run_relay(app)
        _relay_ran_ago(app, timedelta(minutes=5))
        reply = app.test_client().get("/readyz")
        assert reply.status_code == 503, reply.json
        relay = reply.json["checks"]["relay"]
        assert re.fullmatch(r"last relay run 30[01] s ago \(at [-\d]+ [:\d]+ UTC; limit 60 s\): "
                            r"is cx360 beat running\?", relay), relay  # fmt: skip


@pytest.mark.postgres
def test_given_database_unreachable_when_probing_then_503_names_database(
    tmp_path: Path, closed_port: int
):
    redis_available(REDIS_TEST_URL)
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/nothing"
    for app in _app(url, tmp_path, REDIS_TEST_URL):
        reply = app.test_client().get("/readyz")
        assert reply.status_code == 503
        checks = reply.json["checks"]
        assert checks["database"].startswith("unreachable: OperationalError"), checks
        assert checks["schema"] == "not checked: the database is unreachable"


def _status(url: str, broker: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CX360_")}
    env.update(CX360_DATABASE_URL=url, CX360_BROKER_URL=broker)
    return subprocess.run([sys.executable, "-m", "connector.cli", "status", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


@pytest.mark.postgres
def test_given_shell_when_cx360_status_then_one_line_per_check_and_exit_1_until_ready(
    empty_postgres_database: str, tmp_path: Path, closed_port: int
):
    redis_available(REDIS_TEST_URL)
    unmigrated = _status(empty_postgres_database, REDIS_TEST_URL)
    assert unmigrated.returncode == 1, unmigrated.stderr
    lines = unmigrated.stdout.splitlines()
    assert lines[0] == "database  ok"
    assert lines[1].startswith("schema    schema at revision none (empty)")
    assert lines[-1] == "not ready"
    upgrade(empty_postgres_database)
    down = _status(empty_postgres_database, f"redis://127.0.0.1:{closed_port}/0", "--json")
    assert down.returncode == 1
    answer = json.loads(down.stdout)
    assert answer["status"] == "not ready" and answer["checks"]["schema"] == OK
    assert answer["checks"]["broker"].startswith("unreachable: ")
    ready = _status(empty_postgres_database, REDIS_TEST_URL)
    assert ready.returncode == 0, ready.stdout
    assert ready.stdout.splitlines() == [
        "database  ok", "schema    ok", f"relay     {NO_RELAY_RUN_YET}", "broker    ok", "ready"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("heartbeat", "expected"),
    [
        (Heartbeat(None, expected_since=NOW - timedelta(seconds=10)), NO_RELAY_RUN_YET),
        (
            Heartbeat(None, expected_since=NOW - timedelta(minutes=2)),
            "no relay run since 2026-12-03 09:28:00 UTC (more than 60 s): is cx360 beat running?",
        ),
        (None, "no relay run (more than 60 s): is cx360 beat running?"),
        (Heartbeat(NOW - timedelta(seconds=59), NOW - timedelta(days=1)), OK),
        (
            Heartbeat(NOW - timedelta(seconds=61), NOW - timedelta(days=1)),
            "last relay run 61 s ago (at 2026-12-03 09:28:59 UTC; limit 60 s): "
            "is cx360 beat running?",
        ),
    ],
)
def test_given_relay_heartbeat_when_judging_then_grace_only_before_the_first_run(
    heartbeat: Heartbeat | None, expected: str
):
    assert relay_check(heartbeat, now=NOW, stale_after=STALE) == expected


def test_given_no_relay_run_yet_when_judging_readiness_then_ready_but_any_other_reason_not():
    assert Readiness({"database": OK, "relay": NO_RELAY_RUN_YET}).ready
    assert not Readiness({"database": NO_RELAY_RUN_YET, "relay": OK}).ready
    assert not Readiness({"database": OK, "relay": "last relay run 90 s ago"}).ready
