"""How fast ``cx360 import`` takes history into SQLite: rows per second, median of 3 runs.

Each run imports the same generated CSV (default 20,000 NPS/CSAT responses from 5,000
contacts at 500 accounts) into a fresh SQLite database, through the same function the
command uses: read, validate every row, store with outbox rows, recompute scorecards.

    .venv/bin/python bench/import_speed.py [--rows 20000] [--runs 3] [--profile]

Target (issue 6): at least 10,000 rows/s. ``--profile`` prints where the time goes per phase
and the top functions of one run.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import pstats
import random
import statistics
import sys
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


def run_once(csv_path: Path, workdir: Path, number: int) -> tuple[float, int]:
    database = Database(f"sqlite:///{workdir / f'bench-{number}.db'}")
    database.create_all()
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cx360-bench-") as tmp:
        workdir = Path(tmp)
        csv_path = workdir / "history.csv"
        write_history(csv_path, args.rows)
        rates = []
        for number in range(args.runs):
            seconds, created = run_once(csv_path, workdir, number)
            assert created == args.rows, f"expected {args.rows} new rows, got {created}"
            rates.append(args.rows / seconds)
            print(
                f"run {number + 1}: {args.rows} rows in {seconds:.2f} s = {rates[-1]:,.0f} rows/s"
            )
        median = statistics.median(rates)
        verdict = "OK" if median >= TARGET_ROWS_PER_SECOND else "BELOW TARGET"
        print(
            f"median: {median:,.0f} rows/s over {args.runs} runs "
            f"(target {TARGET_ROWS_PER_SECOND:,}) {verdict}"
        )
        if args.profile:
            phases(csv_path, workdir)
    return 0 if median >= TARGET_ROWS_PER_SECOND else 1


if __name__ == "__main__":
    sys.exit(main())
