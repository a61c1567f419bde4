"""Shared set-up for the benchmarks: a database of their own, the sandbox CRM, cx360 wired to
it, real ``cx360 worker`` processes, fast data loading, and small statistics helpers.

Backends: ``production`` (the machine's PostgreSQL, a database created for the run and dropped
after it, and the machine's Redis on a database number of the benchmarks' own, flushed at the
start) and ``embedded`` (SQLite + the embedded Redis broker). Environment:

- ``CX360_BENCH_POSTGRES_URL``: a database on the server to connect to for CREATE DATABASE
  (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``);
- ``CX360_BENCH_REDIS_URL``: the Redis database the benchmarks may flush
  (default ``redis://127.0.0.1:6379/9``).
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as ``python bench/x.py`` from anywhere
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from connector.app import create_app, database  # noqa: E402
from connector.broker import stop_embedded_redis  # noqa: E402
from connector.config import finish_config, load_config  # noqa: E402
from connector.storage.migrate import upgrade  # noqa: E402
from connector.sync.runs import forget_connections  # noqa: E402
from crm_sandbox import SandboxServer  # noqa: E402
from tests.deployment import Deployment, DeploymentError  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get(
    "CX360_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("CX360_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")


class BenchError(RuntimeError):
    """A benchmark could not run (not: a target was missed)."""


# ----------------------------------------------------------------------------- figures
def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty sample."""
    ordered = sorted(samples)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples) if samples else math.nan


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size so far (Linux reports KiB)."""
    return resource.getrusage(who).ru_maxrss / 1024


def verdict(ok: bool, what: str) -> str:
    return f"{'PASS' if ok else 'FAIL'}: {what}"


def finish(results: Sequence[tuple[bool, str]]) -> int:
    """Print one line per target and the final PASS/FAIL line; returns the exit status."""
    print()
    for ok, what in results:
        print("  " + verdict(ok, what))
    passed = all(ok for ok, _ in results)
    print(f"{'PASS' if passed else 'FAIL'} ({sum(ok for ok, _ in results)}/{len(results)} targets)")
    return 0 if passed else 1


# ----------------------------------------------------------------------------- services
@contextlib.contextmanager
def postgres_database(prefix: str = "cx360_bench") -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this run; dropped afterwards."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{os.getpid()}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        raise BenchError(f"PostgreSQL at {POSTGRES_ADMIN_URL}: {exc}") from exc
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def fresh_redis(url: str = REDIS_URL) -> str:
    """Empty the benchmarks' own Redis database (only that one)."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).flushdb()
    except redis.RedisError as exc:
        raise BenchError(f"Redis at {url}: {exc}") from exc
    return url


@contextlib.contextmanager
def sandbox_server(crm: str = "both") -> Iterator[SandboxServer]:
    folder = Path(tempfile.mkdtemp(prefix="cx360-bsb-"))
    try:
        with SandboxServer(crm=crm, port=0, state_dir=folder, threads=16) as server:
            yield server
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ----------------------------------------------------------------------------- cx360
@dataclass
class Bench(Deployment):
    """cx360 configured for one CRM against the sandbox (tests/deployment.py: Deployment), with
    failures as BenchError and quieter workers."""

    worker_loglevel: str = "WARNING"

    @property
    def db_url(self) -> str:
        return str(self.config["CX360_DATABASE_URL"])

    def wait_for(
        self, condition: Callable[[], Any], timeout: float = 90.0, what: str = "", poll: float = 0.2
    ) -> Any:
        try:
            return super().wait_for(condition, timeout, what, poll)
        except DeploymentError as exc:
            raise BenchError(str(exc)) from exc


@contextlib.contextmanager
def bench_app(
    crm: str, sandbox: SandboxServer, database_url: str, broker_url: str | None, **overrides: Any
) -> Iterator[Bench]:
    """cx360 for ``crm`` against ``sandbox`` on ``database_url`` (already migrated) and
    ``broker_url`` (None: the embedded Redis under the instance folder)."""
    instance = Path(tempfile.mkdtemp(prefix="cx360-b-"))  # short: embedded socket path limit
    settings = sandbox.client_settings()
    config = load_config({}, dotenv_path=None)
    config.update(
        CX360_INSTANCE_PATH=str(instance),
        CX360_CRM=crm,
        CX360_SECRET_KEY="bench-secret",
        CX360_DATABASE_URL=database_url,
        CX360_RELAY_INTERVAL_SECONDS=1.0,
        CX360_OUTBOX_LEASE_SECONDS=300,
        **{k: v for k, v in settings.items() if k.startswith(("CX360_", crm.upper() + "_"))},
    )
    if broker_url:
        config["CX360_BROKER_URL"] = broker_url
    config.update(overrides)
    config = finish_config(config)
    forget_connections()
    app = create_app(config)
    bench = Bench(crm, config, sandbox, instance, app)
    try:
        yield bench
    finally:
        bench.stop_workers()
        database(app).dispose()
        forget_connections()
        if not broker_url:
            stop_embedded_redis(instance)
        shutil.rmtree(instance, ignore_errors=True)


def sqlite_url(folder: Path) -> str:
    url = f"sqlite:///{folder / 'cx360.db'}"
    upgrade(url)
    return url


# ----------------------------------------------------------------------------- data
BASE_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def sandbox_contacts(sandbox: SandboxServer, crm: str, count: int, accounts: int) -> list[str]:
    """Generate ``count`` contacts in the sandbox; returns their emails in order."""
    reply = sandbox.admin.generate_contacts(crm, count=count, accounts=accounts)
    first = reply["created"][crm]["first_email"]
    start = int(first.split("-")[1].split("@")[0])
    return [f"bulk-{start + i:06d}@example.com" for i in range(count)]


def sandbox_ids(sandbox: SandboxServer, crm: str) -> dict[str, tuple[str, str | None]]:
    """email -> (CRM id, CRM account id) of the sandbox's contacts (read in process)."""
    found: dict[str, tuple[str, str | None]] = {}
    if crm == "hubspot":
        for record in sandbox.state.records("hubspot", "contacts"):
            email = str(record["properties"].get("email") or "").lower()
            companies = record.get("associations", {}).get("companies") or [None]
            found[email] = (str(record["id"]), companies[0])
    else:
        for record in sandbox.state.records("salesforce", "Contact"):
            email = str(record.get("Email") or "").lower()
            found[email] = (str(record["Id"]), record.get("AccountId"))
    return found


def copy_rows(url: str, table: str, columns: Sequence[str], rows: Iterator[Sequence[Any]]) -> int:
    """COPY rows into a PostgreSQL table (the fast path for millions of rows)."""
    import psycopg

    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    count = 0
    with psycopg.connect(plain) as connection, connection.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        connection.commit()
    return count


def score_for(number: int, changed: int = 0, low: int = 0) -> int:
    """A deterministic, varied score in low..10 (``changed`` shifts it for a second round)."""
    span = 11 - low
    return low + (number * 7 + changed * 3) % span


def post_json(session: Any, url: str, body: Any, headers: dict[str, str]) -> Any:
    reply = session.post(url, json=body, headers=headers, timeout=30)
    if reply.status_code >= 300:
        raise BenchError(f"POST {url}: {reply.status_code} {reply.text[:300]}")
    return reply.json()


def since(started: float) -> float:
    return time.perf_counter() - started


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def days(n: int) -> timedelta:
    return timedelta(days=n)


# ----------------------------------------------------------------------------- bulk loading
def load_accounts(url: str, count: int, crm_ids: Sequence[str | None] | None = None) -> None:
    """Accounts 1..count (domain ``acct-<i>.example``), by COPY."""
    now = datetime.now(UTC)
    copy_rows(
        url,
        "accounts",
        ("id", "crm_id", "domain", "name", "created_at", "updated_at"),
        (
            (i, crm_ids[i - 1] if crm_ids else None, f"acct-{i}.example", f"Account {i}", now, now)
            for i in range(1, count + 1)
        ),
    )


def load_contacts(
    url: str, rows: Iterator[tuple[int, str, str | None, int | None]] | Sequence[Any]
) -> int:
    """Contacts ``(id, email, crm_id, account_id)``, by COPY."""
    now = datetime.now(UTC)
    return copy_rows(
        url,
        "contacts",
        ("id", "email", "crm_id", "account_id", "created_at", "updated_at"),
        ((cid, email, crm_id, aid, now, now) for cid, email, crm_id, aid in rows),
    )


def load_responses(
    url: str, rows: Iterator[tuple[str, int, int, int | None, datetime, str | None]]
) -> int:
    """Responses ``(kind, score, contact_id, account_id, answered_at, comment)``, by COPY."""
    now = datetime.now(UTC)
    return copy_rows(
        url,
        "responses",
        (
            "source",
            "external_id",
            "kind",
            "score",
            "comment",
            "contact_id",
            "account_id",
            "answered_at",
            "received_at",
            "updated_at",
        ),
        (
            ("bench", f"b{n}", kind, score, comment, cid, aid, answered, now, now)
            for n, (kind, score, cid, aid, answered, comment) in enumerate(rows)
        ),
    )


def load_outbox(url: str, contact_ids: Sequence[int], account_ids: Sequence[int] = ()) -> int:
    """Pending outbox rows for these subjects (what ingest writes), by COPY."""
    now = datetime.now(UTC)
    rows = [("contact", i, "bench", now, now, 0) for i in contact_ids]
    rows += [("account", i, "bench", now, now, 0) for i in account_ids]
    return copy_rows(
        url,
        "outbox",
        ("subject_type", "subject_id", "reason", "created_at", "available_at", "attempts"),
        iter(rows),
    )


def fix_sequences(url: str, tables: Sequence[str] = ("accounts", "contacts", "responses")) -> None:
    """After COPY with explicit ids: move each id sequence past the highest id; ANALYZE."""
    engine = create_engine(url)
    with engine.begin() as connection:
        for table in tables:
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
                )
            )
            connection.execute(text(f"ANALYZE {table}"))
    engine.dispose()


def pending_outbox(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text("SELECT count(*) FROM outbox WHERE processed_at IS NULL")
                ).scalar_one()
            )
    finally:
        engine.dispose()
