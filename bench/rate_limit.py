"""Throughput at HubSpot's rate limit: two worker processes share one request budget.

The sandbox enforces 190 requests per rolling 10 s (HubSpot Professional); cx360 is configured
with the same budget (CX360_CRM_RATE_LIMIT="190 per 10 seconds", its HubSpot default).
``--contacts`` (100,000) contacts that cx360 has already matched to the CRM (CRM ids known,
loaded by COPY) get a changed NPS score (7..10, so no follow-up tasks: the scenario is field
writes only). Two ``cx360 worker`` processes (PostgreSQL + Redis) are started and idle; then
the outbox rows are committed and the clock runs until every row is processed.

The floor is what the limit allows: ceil(N/100) batch calls at 19 calls/s. Target (issue 8):
finish within 1.10x of the floor, with zero 429 responses.

    .venv/bin/python bench/rate_limit.py [--contacts 100000] [--limit 190] [--workers 2]

``--profile`` measures cx360's own work instead: no worker processes and no limit, the same
pushes run in this process chunk by chunk (as ``cx360.push_subjects`` does), and the CPU
seconds of the pushing thread per 1,000 contacts are printed (the sandbox's threads are not
counted), with the top functions by cProfile. A second round with nothing changed must make
no write calls.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import pstats
import sys
import time
from typing import Any

from _harness import (
    BASE_TIME,
    bench_app,
    database,
    days,
    finish,
    fix_sequences,
    fresh_redis,
    load_contacts,
    load_outbox,
    load_responses,
    pending_outbox,
    postgres_database,
    sandbox_contacts,
    sandbox_ids,
    sandbox_server,
    score_for,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=190, help="requests per 10 s")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=1000, help="CX360_PUSH_CHUNK")
    parser.add_argument("--concurrency", type=int, default=1, help="tasks in flight per worker")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds for workers to start")
    parser.add_argument("--timeout", type=float, default=0, help="seconds; 0 = 4x the floor")
    parser.add_argument("--profile", action="store_true", help="cx360's CPU per contact")
    parser.add_argument("--rounds", type=int, default=3, help="with --profile")
    parser.add_argument("--top", type=int, default=0, help="with --profile: cProfile lines")
    args = parser.parse_args()
    n = args.contacts
    floor = math.ceil(n / 100) / (args.limit / 10)
    timeout = args.timeout or max(60.0, 4 * floor)

    with sandbox_server("hubspot") as sandbox, postgres_database("cx360_bench_rate") as url:
        started = time.perf_counter()
        emails = sandbox_contacts(sandbox, "hubspot", n, accounts=max(1, n // 1000))
        ids = sandbox_ids(sandbox, "hubspot")
        load_contacts(url, ((i + 1, e, ids[e][0], None) for i, e in enumerate(emails)))
        load_responses(
            url,
            (
                ("nps", score_for(i, low=7), i + 1, None, BASE_TIME - days(1), None)
                for i in range(n)
            ),
        )
        fix_sequences(url)
        print(f"set-up: {n:,} CRM contacts and cx360 rows in {time.perf_counter() - started:.1f} s")

        if args.profile:
            return profile(sandbox, url, n, args.chunk, args.rounds, args.top)
        limit = f"{args.limit} per 10 seconds"
        with bench_app("hubspot", sandbox, url, fresh_redis(), CX360_CRM_RATE_LIMIT=limit,
                       CX360_PUSH_CHUNK=args.chunk) as bench:  # fmt: skip
            bench.install()  # unthrottled adapter: the shared budget in Redis stays empty
            sandbox.admin.set_limits(hubspot_ten_second=args.limit, reset_usage=True)
            sandbox.admin.reset_stats()
            for number in range(args.workers):
                bench.start_worker(concurrency=args.concurrency, beat=number == 0)
            time.sleep(args.warmup)  # workers import and connect; then the work is queued

            t0 = time.perf_counter()
            load_outbox(url, list(range(1, n + 1)))
            progress_at = t0
            while True:
                pending = pending_outbox(url)
                if pending == 0:
                    break
                if time.perf_counter() - t0 > timeout:
                    print(f"timed out after {timeout:.0f} s with {pending:,} rows pending")
                    break
                if time.perf_counter() - progress_at >= 10:
                    progress_at = time.perf_counter()
                    print(f"  {progress_at - t0:5.0f} s: {pending:,} contacts pending")
                for process in bench.workers:
                    if process.poll() is not None:
                        print(bench.worker_logs())
                        raise SystemExit(f"worker exited ({process.returncode})")
                time.sleep(0.25)
            elapsed = time.perf_counter() - t0
            stats = sandbox.admin.stats()
            bench.stop_workers()

    endpoints = stats["endpoints"]
    writes = endpoints.get("hubspot.contacts.batch_update", 0)
    rate_limited = stats["rate_limited"]["hubspot"]
    total = stats["hubspot"]["total"]
    print(
        f"\n{n:,} contacts pushed by {args.workers} workers in {elapsed:.1f} s; "
        f"{total} HubSpot calls ({writes} contact batch updates), {rate_limited} answered 429"
    )
    print("  sandbox endpoints:", ", ".join(f"{k}={v}" for k, v in endpoints.items()))
    print(
        f"floor: ceil({n}/100) = {math.ceil(n / 100)} calls at {args.limit / 10:g} calls/s = "
        f"{floor:.1f} s; measured / floor = {elapsed / floor:.3f}; "
        f"achieved {total / elapsed:.1f} calls/s"
    )
    return finish(
        [
            (elapsed <= 1.10 * floor, f"{elapsed:.1f} s <= 1.10 x floor {floor:.1f} s"),
            (rate_limited == 0, f"{rate_limited} responses 429 (0)"),
            (pending == 0, f"all {n:,} contacts pushed"),
        ]
    )


def profile(sandbox: Any, url: str, n: int, chunk: int, rounds: int, top: int) -> int:
    """Push the outbox in this process, one chunk at a time; print CPU per 1,000 contacts.

    Each measured round starts as the benchmark does (no scorecards, so every contact differs
    from what was written) and pushes all contacts; a last round with nothing changed must make
    no write calls.
    """
    from statistics import median

    from sqlalchemy import text

    from connector.batching import chunked
    from connector.storage import utcnow
    from connector.sync import outbox
    from connector.sync.runs import execute_push

    def push(profiler: cProfile.Profile | None) -> tuple[int, int, float]:
        load_outbox(url, list(range(1, n + 1)))
        sandbox.admin.reset_stats()
        with bench.app.app_context():
            with database(bench.app).session() as session:
                claim = outbox.claim_pending(session, now=utcnow(), lease=days(1), limit=n)
            cpu = time.thread_time()
            if profiler:
                profiler.enable()
            written = 0
            for ids in chunked(claim.contact_ids, chunk):
                written += execute_push(list(ids), [], trigger="outbox")["written"]
            if profiler:
                profiler.disable()
            cpu = time.thread_time() - cpu
        writes = sandbox.admin.stats()["endpoints"].get("hubspot.contacts.batch_update", 0)
        return written, writes, cpu

    def forget_written() -> None:
        """Back to the benchmark's start: no scorecards (nothing written), an empty outbox."""
        with database(bench.app).session() as session:
            session.execute(text("TRUNCATE scorecards, outbox"))

    with bench_app("hubspot", sandbox, url, fresh_redis(),
                   CX360_CRM_RATE_LIMIT="100000 per 10 seconds") as bench:  # fmt: skip
        bench.install()
        sandbox.admin.set_limits(hubspot_ten_second=None, reset_usage=True)
        push(None)  # warm-up: imports, connections, the mapping; scorecards exist after it
        seconds: list[float] = []
        all_written = True
        for _ in range(rounds):
            forget_written()
            written, writes, cpu = push(None)
            all_written = all_written and written == n
            seconds.append(1000 * cpu / n)
            print(f"changed: {written:,} written in {writes} batch calls; CPU {cpu:.2f} s "
                  f"= {1000 * cpu / n:.3f} s per 1,000 contacts")  # fmt: skip
        _, unchanged_writes, cpu = push(None)
        print(f"unchanged: {unchanged_writes} batch calls; CPU {1000 * cpu / n:.3f} s per 1,000")
        print(f"median CPU per 1,000 contacts pushed (changed): {median(seconds):.3f} s")
        if top:
            forget_written()
            profiler = cProfile.Profile()
            push(profiler)
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats("connector|tasks", top)
            stats.sort_stats("tottime").print_stats(top)
            print(out.getvalue())
    return finish(
        [
            (all_written, f"all {n:,} contacts written in every round"),
            (unchanged_writes == 0, f"{unchanged_writes} write calls when nothing changed (0)"),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
