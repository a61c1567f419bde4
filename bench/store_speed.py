"""How fast ``connector.ingest`` stores responses, without HTTP or validation, on both backends.

Three shapes, each timed on SQLite and on a PostgreSQL database of its own:

- single: ``store_responses`` with one item per call and a commit (as ``POST
  /api/v1/responses`` with one response does), every third call a new person; calls/s and the
  SQL statements one call sends (counted with a ``before_cursor_execute`` listener);
- batch: 1,000 responses per call (a full API batch), half of them from known people;
- import: 20,000 rows in chunks of 2,000 in one transaction (``cx360 import``'s store step).

``--baseline REV`` also runs ``connector/ingest.py`` as it was at git revision REV, round by
round beside the current code on fresh databases, and prints current/baseline ratios (the
models and the rest of the package are today's in both).

    .venv/bin/python bench/store_speed.py [--single 2000] [--batches 5] [--rows 20000]
        [--rounds 3] [--backend sqlite|postgresql|both] [--baseline REV]

Targets (issues 6 and 8): storing 20,000 rows under 0.6 s on SQLite and under 2 s on
PostgreSQL (10,000 rows/s with validation on top), a 1,000-item batch under 0.1 s on
PostgreSQL, and a one-item call in at most 6 statements.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from _harness import ROOT, finish, median, postgres_database
from sqlalchemy import event, text

from connector import ingest
from connector.batching import chunked
from connector.storage import Base, Database
from connector.storage.schema import create_schema

START = datetime(2025, 1, 1, tzinfo=UTC)
TARGET_IMPORT_SQLITE = 0.6
TARGET_IMPORT_POSTGRES = 2.0
TARGET_BATCH_POSTGRES = 0.1
TARGET_STATEMENTS = 6


def response(number: int, person: int, source: str) -> dict[str, Any]:
    """A response as ``ResponseIn`` loads it (person ``p``'s account is ``p % 50``)."""
    kind = "nps" if number % 5 else "csat"
    return {
        "kind": kind,
        "score": number % 11 if kind == "nps" else 1 + number % 5,
        "comment": "Too slow" if number % 3 == 0 else None,
        "email": f"person{person}@company{person % 50}.example",
        "crm_id": None,
        "account_crm_id": None,
        "account_domain": f"company{person % 50}.example",
        "answered_at": START + timedelta(minutes=number),
        "touchpoint": None,
        "channel": None,
        "source": source,
        "external_id": f"{source}-{number}",
    }


@dataclass
class Counter:
    """SQL statements sent (executemany counts once)."""

    statements: int = 0
    per_call: list[int] = field(default_factory=list)

    def __call__(self, *_: Any) -> None:
        self.statements += 1


@contextmanager
def fresh_database(backend: str, workdir: Path, postgres_url: str, name: str) -> Iterator[Database]:
    if backend == "sqlite":
        database = Database(f"sqlite:///{workdir / f'{name}.db'}")
        create_schema(database)
    else:
        database = Database(postgres_url)
        with database.engine.begin() as connection:
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    try:
        yield database
    finally:
        database.dispose()


def run_single(database: Database, module: ModuleType, calls: int, counter: Counter) -> float:
    """Seconds for ``calls`` one-item calls, each committed; statements per call recorded."""
    session = database.sessions()
    try:
        started = time.perf_counter()
        for number in range(calls):
            person = number // 3 if number % 3 == 0 else number % max(1, number // 3)
            item = response(number, person, "single")
            before = counter.statements
            module.commit_with_retry(
                session, lambda now, item=item: module.store_responses(session, [item], now=now)
            )
            counter.per_call.append(counter.statements - before)
        return time.perf_counter() - started
    finally:
        session.close()


def run_batches(database: Database, module: ModuleType, batches: int, size: int) -> list[float]:
    """Seconds per ``size``-item call (half the people known from the previous batch)."""
    seconds = []
    for batch in range(batches):
        items = [response(batch * size + i, batch * size // 2 + i, "batch") for i in range(size)]
        with database.session() as session:
            started = time.perf_counter()
            module.store_responses(session, items, now=datetime.now(UTC))
            session.commit()
            seconds.append(time.perf_counter() - started)
    return seconds


def run_import(database: Database, module: ModuleType, rows: int, chunk: int = 2000) -> float:
    """Seconds to store ``rows`` in chunks in one transaction, as ``cx360 import`` does."""
    items = [response(n, n // 4, "import") for n in range(rows)]
    now = datetime.now(UTC)
    started = time.perf_counter()
    with database.session() as session:
        for part in chunked(items, chunk):  # the slicing is not what is measured
            module.store_responses(session, part, now=now)
    return time.perf_counter() - started


def baseline_module(revision: str) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{revision}:connector/ingest.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    spec = importlib.util.spec_from_loader("ingest_baseline", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ingest_baseline"] = module  # dataclasses look their module up
    exec(compile(source, f"{revision}:connector/ingest.py", "exec"), module.__dict__)
    return module


@dataclass
class Figures:
    single_seconds: list[float] = field(default_factory=list)
    batch_seconds: list[float] = field(default_factory=list)
    import_seconds: list[float] = field(default_factory=list)
    counter: Counter = field(default_factory=Counter)


def measure(
    backend: str,
    modules: dict[str, ModuleType],
    args: argparse.Namespace,
    workdir: Path,
    postgres_url: str,
) -> dict[str, Figures]:
    figures = {label: Figures() for label in modules}
    for round_number in range(args.rounds):
        for label, module in modules.items():
            figure = figures[label]
            name = f"{label}-{round_number}"
            with fresh_database(backend, workdir, postgres_url, f"s-{name}") as database:
                listen = event.listen
                listen(database.engine, "before_cursor_execute", figure.counter)
                figure.single_seconds.append(
                    run_single(database, module, args.single, figure.counter)
                )
            with fresh_database(backend, workdir, postgres_url, f"b-{name}") as database:
                figure.batch_seconds.append(median(run_batches(database, module, args.batches,
                                                               args.batch_size)))  # fmt: skip
            with fresh_database(backend, workdir, postgres_url, f"i-{name}") as database:
                figure.import_seconds.append(run_import(database, module, args.rows))
    return figures


def report(backend: str, figures: dict[str, Figures], args: argparse.Namespace) -> Figures:
    print(f"=== {backend} ({args.rounds} rounds, medians) ===")
    for label, figure in figures.items():
        calls_per_second = args.single / median(figure.single_seconds)
        print(f"  [{label}] single: {args.single:,} one-item calls at {calls_per_second:,.0f} "
              f"calls/s; statements per call: median {median(figure.counter.per_call):.0f}, "
              f"max {max(figure.counter.per_call)}")  # fmt: skip
        batch = median(figure.batch_seconds)
        print(f"  [{label}] batch: {args.batch_size:,} items per call in {batch:.3f} s = "
              f"{args.batch_size / batch:,.0f} responses/s")  # fmt: skip
        stored = median(figure.import_seconds)
        print(f"  [{label}] import: {args.rows:,} rows stored in {stored:.2f} s = "
              f"{args.rows / stored:,.0f} rows/s")  # fmt: skip
    if "baseline" in figures:
        now, before = figures["current"], figures["baseline"]
        ratios: list[tuple[str, Callable[[Figures], Sequence[float]]]] = [
            ("single", lambda f: f.single_seconds),
            ("batch", lambda f: f.batch_seconds),
            ("import", lambda f: f.import_seconds),
        ]
        print("  speed-up current/baseline: " + ", ".join(
            f"{what} {median(get(before)) / median(get(now)):.1f}x" for what, get in ratios
        ))  # fmt: skip
    return figures["current"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--baseline", metavar="REV", help="git revision to compare with")
    args = parser.parse_args()
    modules = {"current": ingest}
    if args.baseline:
        modules["baseline"] = baseline_module(args.baseline)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results: list[tuple[bool, str]] = []
    with tempfile.TemporaryDirectory(prefix="cx360-store-") as tmp:
        for backend in backends:
            if backend == "sqlite":
                current = report(backend, measure(backend, modules, args, Path(tmp), ""), args)
            else:
                with postgres_database("cx360_bench_store") as url:
                    current = report(backend, measure(backend, modules, args, Path(tmp), url),
                                     args)  # fmt: skip
            stored = median(current.import_seconds) * 20_000 / args.rows
            limit = TARGET_IMPORT_SQLITE if backend == "sqlite" else TARGET_IMPORT_POSTGRES
            results.append((stored < limit, f"{backend}: 20,000 rows stored in {stored:.2f} s "
                                             f"(scaled; target < {limit} s)"))  # fmt: skip
            if backend == "postgresql":
                batch = median(current.batch_seconds) * 1000 / args.batch_size
                results.append((batch < TARGET_BATCH_POSTGRES,
                                f"{backend}: 1,000-item batch stored in {batch:.3f} s "
                                f"(scaled; target < {TARGET_BATCH_POSTGRES} s)"))  # fmt: skip
            statements = median(current.counter.per_call)
            results.append((statements <= TARGET_STATEMENTS,
                            f"{backend}: {statements:.0f} statements per one-item call "
                            f"(target <= {TARGET_STATEMENTS})"))  # fmt: skip
    return finish(results)


if __name__ == "__main__":
    sys.exit(main())
