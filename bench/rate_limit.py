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
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from _harness import (
    BASE_TIME,
    bench_app,
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
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds for workers to start")
    parser.add_argument("--timeout", type=float, default=0, help="seconds; 0 = 4x the floor")
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

        limit = f"{args.limit} per 10 seconds"
        with bench_app("hubspot", sandbox, url, fresh_redis(), CX360_CRM_RATE_LIMIT=limit,
                       CX360_PUSH_CHUNK=args.chunk) as bench:  # fmt: skip
            bench.install()  # unthrottled adapter: the shared budget in Redis stays empty
            sandbox.admin.set_limits(hubspot_ten_second=args.limit, reset_usage=True)
            sandbox.admin.reset_stats()
            for number in range(args.workers):
                bench.start_worker(concurrency=1, beat=number == 0)
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


if __name__ == "__main__":
    sys.exit(main())
