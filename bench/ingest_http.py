"""Ingest speed under gunicorn on PostgreSQL, against a trivial endpoint of the same server.

1. ``gunicorn -w 4 'connector.app:create_app()'`` (as in the README's production section) on
   loopback, PostgreSQL (a database of the run's own) and Redis (the relay kick; no worker
   runs). ``wrk`` (a second process; Debian:
   ``apt-get install -y wrk``) drives ``GET /healthz`` and ``POST /api/v1/responses`` (one
   response per request, a new ``external_id`` each, over 5,000 contacts at 500 accounts) in
   alternating rounds of ``--seconds``; the figures are the medians of the rounds: requests/s,
   p50 and p99 latency, and POST/healthz requests/s measured side by side. Each round runs in
   two ``--layouts``: ``shared``, where gunicorn, ``wrk`` and PostgreSQL share every core, and
   ``split``, where gunicorn and ``wrk`` are pinned to the first half of the cores and
   PostgreSQL has the rest to itself, as a database on a machine of its own (the README's
   production layout) would.
2. Batch ingest: ``{"responses": [...]}`` of 1,000 over HTTP (bodies encoded before the clock
   starts), ``--batches`` per round, in ``--batch-rounds`` rounds that alternate one client
   with ``--batch-clients`` clients at once: sustained responses/s (the target) and what one
   client waiting for each answer gets.
3. ``cx360 import`` of a ``--import-rows`` CSV into the same database (the command's function,
   as ``bench/import_speed.py`` does on SQLite), ``--imports`` times: median rows/s.

Targets (issue 8): >= 500 requests/s, p99 <= 100 ms, ratio >= 0.35; batch and import >=
10,000 responses/s.

    .venv/bin/python bench/ingest_http.py [--seconds 10] [--rounds 3] [--connections 8]
        [--gunicorn-workers 4] [--layouts shared split] [--batches 10] [--batch-rounds 3]
        [--batch-clients 2] [--import-rows 20000] [--imports 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from queue import Empty, Queue
from threading import Thread
from typing import Any

import requests
from _harness import (
    ROOT,
    BenchError,
    finish,
    fresh_redis,
    median,
    postgres_database,
)
from import_speed import write_history
from sqlalchemy import create_engine, text

from connector.app import create_app, database
from connector.auth import create_api_key
from connector.importer.run import import_file
from connector.importer.validation import ImportOptions
from connector.scoring import ScoringConfig
from connector.storage import Database

LUA_DONE = r"""
done = function(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format(
    'WRKJSON {"requests": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, "non2xx": %d, ' ..
    '"socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, non2xx,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""

LUA_POST = r"""
local counter = 0
local threads = {}
setup = function(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
request = function()
  counter = counter + 1
  local n = counter * 16 + (tid or 0)
  local contact = n % 5000
  local body = string.format(
    '{"kind":"nps","score":%d,"email":"c%d@bench.example","account_domain":"acct-%d.example",' ..
    '"answered_at":"2026-01-05T09:00:00Z","source":"wrk","external_id":"%s-%d","comment":"ok"}',
    n % 11, contact, contact % 500, RUN, n)
  return wrk.format("POST", "/api/v1/responses", {
    ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. KEY}, body)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Where one-response rounds run (see the module docstring): layout -> description.
LAYOUTS = {
    "shared": "app and database sharing every core",
    "split": "database with a core of its own",
}


def app_cpus(layout: str) -> set[int]:
    """The cores gunicorn and ``wrk`` may use in ``layout``."""
    cpus = sorted(os.sched_getaffinity(0))
    return set(cpus) if layout == "shared" else set(cpus[: max(1, len(cpus) // 2)])


def pin(pids: Sequence[int], cpus: set[int]) -> None:
    for pid in pids:
        try:
            os.sched_setaffinity(pid, cpus)
        except ProcessLookupError:
            continue  # gone


def wrk(
    url: str, script: Path, seconds: float, connections: int, threads: int,
    cpus: set[int] | None = None,
) -> dict[str, Any]:  # fmt: skip
    pinned = ["taskset", "-c", ",".join(map(str, sorted(cpus)))] if cpus else []
    out = subprocess.run(
        [
            *pinned,
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds:g}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise BenchError(f"wrk printed no summary: {out.stdout[-500:]} {out.stderr[-500:]}")
    result: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    result["rps"] = result["requests"] / result["seconds"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per round and endpoint")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--gunicorn-workers", type=int, default=4,
                        help="as the README's production section runs it")  # fmt: skip
    parser.add_argument("--layouts", nargs="+", choices=sorted(LAYOUTS),
                        default=list(LAYOUTS), help="of the one-response rounds")  # fmt: skip
    parser.add_argument("--batches", type=int, default=10, help="batches of 1,000 per round")
    parser.add_argument("--batch-rounds", type=int, default=3)
    parser.add_argument("--batch-clients", type=int, default=2)
    parser.add_argument("--import-rows", type=int, default=20_000)
    parser.add_argument("--imports", type=int, default=3, help="imports of --import-rows")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (Debian: apt-get install -y wrk)")
    if "split" in args.layouts and shutil.which("taskset") is None:
        raise BenchError("taskset (util-linux) pins the split layout; or run --layouts shared")

    work = Path(tempfile.mkdtemp(prefix="cx360-bi-"))
    results: list[tuple[bool, str]] = []
    try:
        with postgres_database("cx360_bench_ingest") as url:
            env_config = {
                "CX360_DATABASE_URL": url,
                "CX360_BROKER_URL": fresh_redis(),
                "CX360_INSTANCE_PATH": str(work / "instance"),
                "CX360_SECRET_KEY": "bench-secret",
            }
            app = create_app(env_config)
            with database(app).session() as session:
                _, key = create_api_key(session, "ingest", "bench ingest")
            database(app).dispose()

            port = free_port()
            base = f"http://127.0.0.1:{port}"
            env = {k: v for k, v in os.environ.items() if not k.startswith("CX360_")}
            env.update(env_config)
            log = open(work / "gunicorn.log", "wb")  # noqa: SIM115
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-w", str(args.gunicorn_workers), "-b",
                 f"127.0.0.1:{port}", "--log-level", "warning", "connector.app:create_app()"],
                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if requests.get(base + "/healthz", timeout=1).ok:
                            break
                    except requests.RequestException:
                        pass
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise BenchError(
                            "gunicorn did not come up:\n" + _tail(work / "gunicorn.log")
                        )
                    time.sleep(0.2)
                analyze = statistics_refresher(url)
                cpu = CpuMeter(server.pid, url)
                results += single_requests(args, base, key, work, analyze, cpu)
                results += batches(args, base, key, analyze)
            finally:
                server.terminate()
                try:
                    server.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    server.kill()
            statistics_refresher(url)()  # the import's tables hold the rounds' rows
            results += import_rate(args, url, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return finish(results)


def statistics_refresher(url: str) -> Callable[[], None]:
    """``ANALYZE`` the run's database, as autovacuum does on a production server.

    This machine's PostgreSQL runs with ``autovacuum = off``: without statistics the planner
    keeps its empty-table plans while the tables grow, and ingest slows by half within a
    minute. Called between rounds and batches, never inside a measurement.
    """
    engine = create_engine(url, isolation_level="AUTOCOMMIT")

    def analyze() -> None:
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))

    return analyze


class CpuMeter:
    """CPU seconds used by the gunicorn workers, the run database's PostgreSQL backends and
    this script's children (``wrk``), read from ``/proc`` around a measurement."""

    def __init__(self, server_pid: int, url: str) -> None:
        self.server_pid = server_pid
        self.engine = create_engine(url, isolation_level="AUTOCOMMIT")
        self.tick = os.sysconf("SC_CLK_TCK")

    def _cpu(self, pids: list[int]) -> float:
        total = 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone
            total += (int(fields[11]) + int(fields[12])) / self.tick  # utime + stime
        return total

    def workers(self) -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == self.server_pid:
                    pids.append(int(stat.parent.name))
            except (OSError, ValueError):
                continue
        return pids

    def _backends(self) -> list[int]:
        with self.engine.connect() as connection:
            return list(connection.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )).scalars())  # fmt: skip

    def snapshot(self) -> tuple[float, float, float]:
        children = os.times()
        return (self._cpu(self.workers()), self._cpu(self._backends()),
                children.children_user + children.children_system)  # fmt: skip

    @staticmethod
    def per_request(before: tuple[float, ...], after: tuple[float, ...], requests: int) -> str:
        gunicorn, postgres, load = (1000 * (b - a) / max(1, requests)
                                    for a, b in zip(before, after, strict=True))  # fmt: skip
        return (
            f"CPU/request gunicorn {gunicorn:.2f} ms, postgres {postgres:.2f} ms, wrk {load:.2f} ms"
        )


def single_requests(
    args: argparse.Namespace,
    base: str,
    key: str,
    work: Path,
    analyze: Callable[[], None],
    cpu: CpuMeter,
) -> list[tuple[bool, str]]:
    health = work / "health.lua"
    health.write_text(LUA_DONE)
    post = work / "post.lua"
    layouts = list(dict.fromkeys(args.layouts))
    if "split" in layouts and len(os.sched_getaffinity(0)) < 2:
        print("split layout skipped: this process may use only one core")
        layouts.remove("split")
    # warm-up: both gunicorn workers connect to the database and fill their caches
    warm = min(2.0, args.seconds)
    wrk(base + "/healthz", health, warm, args.connections, args.threads)
    (work / "warm.lua").write_text(f'KEY = "{key}"\nRUN = "warm"\n' + LUA_POST + LUA_DONE)
    wrk(base, work / "warm.lua", warm, args.connections, args.threads)
    posts: dict[str, list[dict[str, Any]]] = {layout: [] for layout in layouts}
    healths: dict[str, list[dict[str, Any]]] = {layout: [] for layout in layouts}
    for number in range(args.rounds):
        for layout in layouts:
            cpus = app_cpus(layout)
            pin([cpu.server_pid, *cpu.workers()], cpus)
            analyze()
            before = cpu.snapshot()
            h = wrk(base + "/healthz", health, args.seconds, args.connections, args.threads, cpus)
            between = cpu.snapshot()
            post.write_text(f'KEY = "{key}"\nRUN = "r{number}-{layout}"\n' + LUA_POST + LUA_DONE)
            p = wrk(base, post, args.seconds, args.connections, args.threads, cpus)
            after = cpu.snapshot()
            healths[layout].append(h)
            posts[layout].append(p)
            print(
                f"round {number + 1} {layout}: healthz {h['rps']:7.0f} req/s p50 "
                f"{h['p50_ms']:6.1f} ms p99 {h['p99_ms']:6.1f} ms | POST {p['rps']:6.0f} req/s "
                f"p50 {p['p50_ms']:6.1f} ms p99 {p['p99_ms']:6.1f} ms, non-2xx {p['non2xx']}, "
                f"socket errors {p['socket_errors']}"
            )
            print(f"  healthz {cpu.per_request(before, between, h['requests'])}; "
                  f"POST {cpu.per_request(between, after, p['requests'])}")  # fmt: skip
    pin([cpu.server_pid, *cpu.workers()], app_cpus("shared"))
    results = []
    for layout in layouts:
        results += _single_summary(args, layout, posts[layout], healths[layout])
    return results


def _single_summary(
    args: argparse.Namespace,
    layout: str,
    posts: list[dict[str, Any]],
    healths: list[dict[str, Any]],
) -> list[tuple[bool, str]]:
    rps = median([p["rps"] for p in posts])
    p50 = median([p["p50_ms"] for p in posts])
    p99 = median([p["p99_ms"] for p in posts])
    ratio = median([p["rps"] / h["rps"] for p, h in zip(posts, healths, strict=True)])
    errors = sum(p["non2xx"] + p["socket_errors"] for p in posts)
    health_rps = median([h["rps"] for h in healths])
    cores = ",".join(str(c) for c in sorted(app_cpus(layout)))
    print(
        f"[{layout}] POST /api/v1/responses (1 per request), median of {args.rounds} rounds: "
        f"{rps:.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms; healthz {health_rps:.0f}"
        f" req/s; ratio POST/healthz {ratio:.2f}; {args.connections} connections, "
        f"{args.gunicorn_workers} gunicorn workers ({LAYOUTS[layout]}: app and wrk on "
        f"core(s) {cores})"
    )
    return [
        (rps >= 500, f"single-response ingest {rps:.0f} requests/s >= 500 ({layout})"),
        (p99 <= 100, f"single-response ingest p99 {p99:.1f} ms <= 100 ms ({layout})"),
        (ratio >= 0.35, f"ingest/healthz ratio {ratio:.2f} >= 0.35 ({LAYOUTS[layout]})"),
        (errors == 0, f"{errors} failed requests (0) ({layout})"),
    ]


def batch_items(number: int) -> list[dict[str, Any]]:
    """Batch ``number``'s 1,000 responses: new ``external_id``s, people seen before or not."""
    return [
        {"kind": "nps" if i % 5 else "csat", "score": i % 11 if i % 5 else 1 + i % 5,
         "email": f"b{(number * 1000 + i) % 20000}@batch.example",
         "account_domain": f"batch-{i % 200}.example", "answered_at": "2026-01-05T09:00:00Z",
         "source": "batch", "external_id": f"b{number}-{i}"}
        for i in range(1000)
    ]  # fmt: skip


def post_batches(base: str, key: str, numbers: Sequence[int], clients: int) -> float:
    """POST the batches ``numbers`` from ``clients`` concurrent connections: responses/s."""
    bodies = Queue[bytes]()
    for number in numbers:
        bodies.put(json.dumps({"responses": batch_items(number)}).encode())
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    failures: list[str] = []

    def client() -> None:
        with requests.Session() as session:
            while not failures:
                try:
                    body = bodies.get_nowait()
                except Empty:
                    return
                reply = session.post(base + "/api/v1/responses", data=body, headers=headers,
                                     timeout=120)  # fmt: skip
                if reply.status_code != 200:
                    failures.append(f"batch POST: {reply.status_code} {reply.text[:300]}")

    threads = [Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        raise BenchError(failures[0])
    return 1000 * len(numbers) / seconds


def batches(
    args: argparse.Namespace, base: str, key: str, analyze: Callable[[], None]
) -> list[tuple[bool, str]]:
    """Batches of 1,000, one client at a time and from ``--batch-clients`` at once, alternately.

    One client waits for each answer, so the server works on one batch at a time: its Python
    (parsing, validating) and PostgreSQL's inserts take turns on one core each. Sustained
    throughput, as for the one-response rounds, is measured with concurrent clients.
    """
    if args.batches <= 0:
        return []
    numbers = iter(range(1_000_000))
    sequential, concurrent = [], []
    for _ in range(args.batch_rounds):
        analyze()
        sequential.append(post_batches(base, key, [next(numbers) for _ in range(args.batches)], 1))
        analyze()
        concurrent.append(post_batches(base, key, [next(numbers) for _ in range(args.batches)],
                                       args.batch_clients))  # fmt: skip
    one, many = median(sequential), median(concurrent)
    figures = " | ".join(", ".join(f"{r:,.0f}" for r in run) for run in (concurrent, sequential))
    print(
        f"batch ingest ({args.batches} x 1,000 responses over HTTP per round, median of "
        f"{args.batch_rounds} rounds): median {many:,.0f} responses/s from {args.batch_clients} "
        f"clients at once, {one:,.0f} responses/s from one client (rounds: {figures})"
    )
    return [
        (many >= 10_000, f"batch ingest {many:,.0f} responses/s >= 10,000 "
                         f"({args.batch_clients} clients)"),
    ]  # fmt: skip


def import_rate(args: argparse.Namespace, url: str, work: Path) -> list[tuple[bool, str]]:
    """``cx360 import`` ``--imports`` times (each file its own ``source``): median rows/s."""
    if args.import_rows <= 0:
        return []
    path = work / "history.csv"
    write_history(path, args.import_rows)
    analyze = statistics_refresher(url)
    rates = []
    for number in range(args.imports):
        analyze()
        db = Database(url)
        try:
            summary = import_file(db, path, ImportOptions(source=f"bench-import-{number}"),
                                  now=datetime.now(UTC), scoring=ScoringConfig())  # fmt: skip
        finally:
            db.dispose()
        rates.append(args.import_rows / summary.seconds)
    rate = median(rates)
    print(
        f"cx360 import of {args.import_rows:,} CSV rows into PostgreSQL, {args.imports} times: "
        f"median {rate:,.0f} rows/s ({', '.join(f'{r:,.0f}' for r in rates)})"
    )
    return [(rate >= 10_000, f"cx360 import {rate:,.0f} rows/s >= 10,000 (PostgreSQL)")]


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


if __name__ == "__main__":
    sys.exit(main())
