"""Full recompute at scale on PostgreSQL: every contact's and every account's scorecard.

Loads ``--responses`` (1,000,000) NPS/CSAT responses over ``--contacts`` (200,000) contacts at
``--accounts`` (20,000) accounts by COPY (not through the API), then recomputes all scorecards
with ``connector.scorecards.recompute_contacts`` / ``recompute_accounts`` in a fresh child
process, ``--chunk`` contacts per call (accounts: a tenth of that; 0 = everything in one
call), committing after each, as ``cx360 import`` does. Time and the child's peak RSS
(``resource.getrusage``) are printed; ``--profile`` adds the child's top functions (cProfile).

Targets (issue 8): full recompute <= 60 s, peak memory <= 1 GiB.

    .venv/bin/python bench/recompute_scale.py [--responses 1000000] [--contacts 200000]
        [--accounts 20000] [--chunk 10000] [--profile]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from _harness import (
    ROOT,
    finish,
    fix_sequences,
    load_accounts,
    load_contacts,
    load_responses,
    peak_rss_mib,
    postgres_database,
)

COMMENTS = [None, None, None, "Schneller Support", "Zu langsam", "Export fehlt", "Gut"]


def load(url: str, responses: int, contacts: int, accounts: int) -> float:
    started = time.perf_counter()
    load_accounts(url, accounts)
    load_contacts(
        url, ((c, f"p{c}@acct-{1 + c % accounts}.example", None, 1 + c % accounts)
              for c in range(1, contacts + 1))
    )  # fmt: skip
    rng = random.Random(8)
    now = datetime.now(UTC)

    def rows() -> object:
        for n in range(responses):
            contact = 1 + n % contacts  # every contact answers; ~responses/contacts each
            kind = "nps" if rng.random() < 0.8 else "csat"
            score = rng.randint(0, 10) if kind == "nps" else rng.randint(1, 5)
            answered = now - timedelta(minutes=rng.randrange(500 * 24 * 60))
            yield kind, score, contact, 1 + contact % accounts, answered, rng.choice(COMMENTS)

    load_responses(url, rows())  # type: ignore[arg-type]
    fix_sequences(url)
    return time.perf_counter() - started


def child(url: str, chunk: int, profile: bool) -> None:
    """Runs in a fresh process: recompute everything, print figures as JSON."""
    import cProfile
    import io
    import pstats

    from sqlalchemy import select

    from connector.batching import chunked
    from connector.scorecards import recompute_accounts, recompute_contacts
    from connector.scoring import ScoringConfig
    from connector.storage import Account, Contact, Database

    db = Database(url)
    baseline = peak_rss_mib()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    now = datetime.now(UTC)
    config = ScoringConfig()
    with db.session() as session:
        contacts = list(session.scalars(select(Contact.id).order_by(Contact.id)))
        accounts = list(session.scalars(select(Account.id).order_by(Account.id)))
    contact_seconds = time.perf_counter() - started
    for ids in chunked(contacts, chunk or len(contacts) or 1):
        with db.session() as session:
            recompute_contacts(session, ids, now=now, config=config)
    contact_seconds = time.perf_counter() - started
    for ids in chunked(accounts, max(1, chunk // 10) if chunk else len(accounts) or 1):
        with db.session() as session:
            recompute_accounts(session, ids, now=now, config=config)
    seconds = time.perf_counter() - started
    if profiler:
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue(), file=sys.stderr)
    db.dispose()
    print(json.dumps({"seconds": seconds, "contact_seconds": contact_seconds,
                      "peak_rss_mib": peak_rss_mib(), "baseline_rss_mib": baseline,
                      "contacts": len(contacts), "accounts": len(accounts)}))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=10_000, help="contacts per call; 0 = all")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.chunk, args.profile)
        return 0

    with postgres_database("cx360_bench_recompute") as url:
        seconds = load(url, args.responses, args.contacts, args.accounts)
        print(
            f"loaded {args.responses:,} responses, {args.contacts:,} contacts, "
            f"{args.accounts:,} accounts by COPY in {seconds:.1f} s"
        )
        command = [sys.executable, __file__, "--child", url, "--chunk", str(args.chunk)]
        out = subprocess.run(
            command + (["--profile"] if args.profile else []),
            capture_output=True, text=True, cwd=ROOT, timeout=1800, check=False,
        )  # fmt: skip
        if out.returncode != 0:
            print(out.stdout, out.stderr)
            return 2
        if args.profile:
            print(out.stderr)
        figures = json.loads(out.stdout.strip().splitlines()[-1])
    total, rss = figures["seconds"], figures["peak_rss_mib"]
    print(
        f"full recompute of {figures['contacts']:,} contacts + {figures['accounts']:,} accounts "
        f"({args.chunk or 'all'} contacts per call): {total:.1f} s (contacts "
        f"{figures['contact_seconds']:.1f} s, accounts {total - figures['contact_seconds']:.1f} s)"
        f"; peak RSS {rss:.0f} MiB (after imports {figures['baseline_rss_mib']:.0f} MiB)"
    )
    return finish(
        [
            (total <= 60, f"full recompute {total:.1f} s <= 60 s"),
            (rss <= 1024, f"peak memory {rss:.0f} MiB <= 1024 MiB"),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
