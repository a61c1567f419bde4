"""How fast ``cx360 import`` takes history into SQLite: rows per second, median of 3 runs.

Each run imports the same generated CSV (default 20,000 NPS/CSAT responses from 5,000
contacts at 500 accounts) into a fresh SQLite database, through the same function the
command uses: read, validate every row, store with outbox rows, recompute scorecards.

    .venv/bin/python bench/import_speed.py [--rows 20000] [--runs 3] [--profile]
        [--baseline REV]

Targets (issues 6 and 18): at least 10,000 rows/s, and with ``--baseline REV`` no slower than
the code at git revision REV (within 5 %, the noise of a shared machine). ``--baseline`` runs
that revision's ``connector`` (and ``tasks``) package, taken with ``git archive`` into a
temporary folder, on the same file, run by run beside the current code, each run a process
of its own with its side's package first on ``sys.path``; the two are printed side by side.
``--profile`` prints where the time goes per phase and the top functions of one run.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import os
import pstats
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.importer.rows import read_rows
from connector.importer.run import import_file
from connector.importer.validation import ImportOptions, validate_rows
from connector.scoring import ScoringConfig
from connector.storage import Database

TARGET_ROWS_PER_SECOND = 10_000
TARGET_RATIO = 0.95
ROOT = Path(__file__).resolve().parent.parent
COMMENTS = ["", "", "Great support", "Too slow", "Missing the export we need", "Fine"]


def write_history(path: Path, rows: int, seed: int = 6) -> None:
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    contacts = max(1, rows // 4)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["external_id", "kind", "score", "email", "account_domain", "answered_at", "comment"]
        )
        for index in range(rows):
            contact = rng.randrange(contacts)
            kind = "nps" if rng.random() < 0.8 else "csat"
            score = rng.randint(0, 10) if kind == "nps" else rng.randint(1, 5)
            answered = start + timedelta(minutes=rng.randrange(365 * 24 * 60))
            writer.writerow(
                [
                    f"h-{index}",
                    kind,
                    score,
                    f"person{contact}@company{contact % 500}.example",
                    f"company{contact % 500}.example",
                    answered.isoformat(),
                    rng.choice(COMMENTS),
                ]
            )


def build_schema(database: Database) -> None:
    """The schema from the models, also with code from before ``storage.schema`` existed
    (``--baseline`` of an older revision runs this script over that revision's package)."""
    try:
        from connector.storage.schema import create_schema
    except ImportError:
        database.create_all()  # type: ignore[attr-defined]
        return
    create_schema(database)


def run_once(csv_path: Path, workdir: Path, number: int) -> tuple[float, int]:
    database = Database(f"sqlite:///{workdir / f'bench-{number}.db'}")
    build_schema(database)
    try:
        summary = import_file(
            database,
            csv_path,
            ImportOptions(source="bench"),
            now=datetime.now(UTC),
            scoring=ScoringConfig(),
        )
    finally:
        database.dispose()
    return summary.seconds, summary.created


def phases(csv_path: Path, workdir: Path) -> None:
    """Time of reading+validating alone, to tell it apart from storing and scoring."""
    started = time.perf_counter()
    report = validate_rows(read_rows(csv_path, "csv"), ImportOptions(source="bench"))
    validate_seconds = time.perf_counter() - started
    print(f"  read + validate: {validate_seconds:.2f} s for {len(report.valid)} rows")
    profile = cProfile.Profile()
    profile.enable()
    run_once(csv_path, workdir, 99)
    profile.disable()
    stats = pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative")
    stats.print_stats(25)


def checkout(revision: str, folder: Path) -> Path:
    """The ``connector`` and ``tasks`` packages as they were at ``revision``, under ``folder``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "connector", "tasks"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def run_in_process(code: Path, csv_path: Path, workdir: Path, number: int) -> tuple[float, int]:
    """One run in a process of its own whose ``connector`` is the one under ``code``."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(code), os.environ.get("PYTHONPATH", "")]),
    }
    output = subprocess.run(
        [sys.executable, __file__, "--one-run", str(csv_path), str(workdir), str(number)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=code,
    ).stdout.split()
    seconds, created, package = float(output[0]), int(output[1]), Path(output[2])
    assert package.is_relative_to(code), f"ran {package}, not the code under {code}"
    return seconds, created


def one_run(csv_path: str, workdir: str, number: str) -> int:
    import connector

    seconds, created = run_once(Path(csv_path), Path(workdir), int(number))
    print(seconds, created, Path(connector.__file__).resolve().parent.parent)
    return 0


def rate(rows: int, seconds: float) -> str:
    return f"{rows} rows in {seconds:.2f} s = {rows / seconds:>7,.0f} rows/s"


def main() -> int:
    if sys.argv[1:2] == ["--one-run"]:  # a run of run_in_process
        return one_run(*sys.argv[2:5])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--baseline", metavar="REV", help="also run the code at git revision REV")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cx360-bench-") as tmp:
        workdir = Path(tmp)
        csv_path = workdir / "history.csv"
        write_history(csv_path, args.rows)
        sides = {"current": ROOT}
        if args.baseline:
            sides[f"baseline {args.baseline}"] = checkout(args.baseline, workdir / "baseline")
        rates: dict[str, list[float]] = {side: [] for side in sides}
        for number in range(args.runs):
            shown = []
            for index, (side, code) in enumerate(sides.items()):
                seconds, created = run_in_process(code, csv_path, workdir, number * 10 + index)
                assert created == args.rows, f"{side}: expected {args.rows} new rows, got {created}"
                rates[side].append(args.rows / seconds)
                shown.append(f"{side}: {rate(args.rows, seconds)}")
            print(f"run {number + 1}: " + " | ".join(shown))
        medians = {side: statistics.median(values) for side, values in rates.items()}
        print(
            f"median over {args.runs} runs: "
            + " | ".join(f"{side} {value:,.0f} rows/s" for side, value in medians.items())
        )
        current = medians["current"]
        results = [
            (
                current >= TARGET_ROWS_PER_SECOND,
                f"current {current:,.0f} rows/s (target >= {TARGET_ROWS_PER_SECOND:,})",
            )
        ]
        if args.baseline:
            ratio = current / medians[f"baseline {args.baseline}"]
            print(f"ratio current/baseline: {ratio:.2f}x")
            results.append(
                (ratio >= TARGET_RATIO, f"current/baseline {ratio:.2f}x (target >= {TARGET_RATIO})")
            )
        if args.profile:
            phases(csv_path, workdir)
    print()
    for ok, what in results:
        print(f"  {'PASS' if ok else 'FAIL'}: {what}")
    passed = all(ok for ok, _ in results)
    print(f"{'PASS' if passed else 'FAIL'} ({sum(ok for ok, _ in results)}/{len(results)} targets)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
