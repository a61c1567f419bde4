"""CLI commands of the sync pipeline: ``cx360 worker``, ``cx360 beat`` and ``cx360 sync``."""

from __future__ import annotations

import atexit
import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from connector.cli_admin import _config, refuse_taken_port, upgrade_waiting, wait_for_db_option
from connector.config import host_and_port
from connector.logs import configure_logging, log_format_of
from connector.metrics import serve_worker_metrics

log = logging.getLogger("cx360")

PR_SET_PDEATHSIG = 1
STANDBY_POLL_SECONDS = 2.0


@click.command("worker")
@click.option("--concurrency", "-c", default=2, show_default=True, type=int,
              help="Worker processes (prefork pool).")  # fmt: skip
@click.option("--beat/--no-beat", default=False, show_default=True,
              help="Also run `cx360 beat` as a child (one-box or dev setups).")  # fmt: skip
@click.option("--loglevel", default="INFO", show_default=True)
@wait_for_db_option
def worker_command(concurrency: int, beat: bool, loglevel: str, wait_for_db: float) -> None:
    """Run a Celery worker that pushes scores to the CRM.

    ``--beat`` starts ``cx360 beat`` as a child process rather than Celery's embedded beat:
    the child takes the same one-beat lock, and if it dies the worker stops with exit code 1
    so its supervisor restarts both (an embedded beat could die while the worker ran on).
    """
    config = _config()
    if not config.get("CX360_CRM"):
        raise click.ClickException("Set CX360_CRM to hubspot or salesforce (see README).")
    log_format = log_format_of(config)
    configure_logging(log_format, loglevel)
    metrics_bind = config["CX360_WORKER_METRICS_BIND"]
    metrics_address = (
        host_and_port(metrics_bind, "CX360_WORKER_METRICS_BIND") if metrics_bind else None
    )
    if metrics_address:
        refuse_taken_port(*metrics_address, option="CX360_WORKER_METRICS_BIND")
    upgrade_waiting(config["CX360_DATABASE_URL"], wait_for_db)
    from celery.signals import worker_shutting_down

    from tasks.worker import celery

    log.info("cx360 worker: broker %s, CRM %s", celery.conf.broker_url.split("@")[-1],
             config["CX360_CRM"])  # fmt: skip
    if metrics_address:  # before Celery forks its pool: the pool's processes report through it
        metrics_dir = serve_worker_metrics(*metrics_address)
        atexit.register(_remove_in_process, os.getpid(), metrics_dir)
        log.info("cx360 worker: metrics on http://%s/metrics", metrics_bind)
    argv = ["worker", f"--concurrency={concurrency}", f"--loglevel={loglevel}", "--without-gossip",
            "--without-mingle"]  # fmt: skip
    if log_format == "json":  # no banner: every line of the output is a JSON log line
        argv = ["--quiet", *argv]
    if not beat:
        celery.start(argv)
        return
    shutting_down = threading.Event()
    beat_died = threading.Event()
    worker_shutting_down.connect(lambda **_: shutting_down.set(), weak=False)
    child = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "beat", f"--loglevel={loglevel}"],
        preexec_fn=_stop_with_parent,
    )

    def watch_beat() -> None:
        code = child.wait()
        if not shutting_down.is_set():
            log.error("cx360 worker: its beat (pid %s) exited with code %s; stopping so the "
                      "supervisor restarts the worker", child.pid, code)  # fmt: skip
            beat_died.set()
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch_beat, name="cx360-beat-watch", daemon=True).start()
    try:
        celery.start(argv)
    finally:
        shutting_down.set()
        _stop_child(child)
    if beat_died.is_set():
        sys.exit(1)


def _remove_in_process(pid: int, folder: Path) -> None:
    """At exit of process ``pid`` only (not of a forked pool process), remove ``folder``."""
    if os.getpid() == pid:
        shutil.rmtree(folder, ignore_errors=True)


def _stop_with_parent() -> None:
    """In the beat child: get SIGTERM when the worker dies, even by kill -9 (Linux)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@click.command("beat")
@click.option("--loglevel", default="INFO", show_default=True)
@wait_for_db_option
def beat_command(loglevel: str, wait_for_db: float) -> None:
    """Run the periodic schedule (outbox relay, revenue refresh): exactly one per deployment.

    It holds the one-beat lock (see connector/beat_lock.py) while it runs; a second
    ``cx360 beat`` waits as a standby and takes over when the first stops or dies.
    """
    from connector.beat_lock import beat_lock

    config = _config()
    log_format = log_format_of(config)
    configure_logging(log_format, loglevel)
    instance = Path(config["CX360_INSTANCE_PATH"])
    instance.mkdir(parents=True, exist_ok=True)
    upgrade_waiting(config["CX360_DATABASE_URL"], wait_for_db)
    # SIGTERM while on standby: leave through SystemExit, so exit handlers run
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    lock = beat_lock(config["CX360_DATABASE_URL"], str(instance))
    if not lock.try_acquire():
        log.info("cx360 beat: standby; another cx360 beat holds the %s; taking over when it "
                 "stops", lock.description)  # fmt: skip
        while not lock.try_acquire():
            time.sleep(STANDBY_POLL_SECONDS)
        log.info("cx360 beat: the other beat stopped; taking over")
    lost = threading.Event()

    def on_lost() -> None:
        log.error("cx360 beat: lost the beat lock's database connection; stopping")
        lost.set()
        os.kill(os.getpid(), signal.SIGTERM)

    lock.watch(on_lost)
    from connector.beat_service import StoppableBeat
    from tasks.worker import celery

    log.info("cx360 beat: holding the %s; broker %s", lock.description,
             celery.conf.broker_url.split("@")[-1])  # fmt: skip
    StoppableBeat(app=celery, schedule=str(instance / "celerybeat-schedule"), loglevel=loglevel,
                  quiet=log_format == "json").run()  # fmt: skip
    if lost.is_set():
        sys.exit(1)


@click.command("sync")
@click.option("--dry-run", is_flag=True, help="Print the plan of field changes; write nothing.")
@click.option("--full", is_flag=True, help="Rewrite every mapped field (repairs drift).")
@click.option(
    "--rematch",
    is_flag=True,
    help="After pointing cx360 at another HubSpot portal or Salesforce org: forget the stored "
    "CRM ids and what was written, match everyone again by email / domain, write everything.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
def sync_command(dry_run: bool, full: bool, rematch: bool, as_json: bool) -> None:
    """Push pending changes to the CRM now (without a worker)."""
    from rich.progress import Progress

    from connector.app import create_app
    from connector.crm.errors import CrmError
    from connector.extensions import database
    from connector.storage import SyncRun
    from connector.storage.migrate import upgrade
    from connector.sync.runs import run_requested_sync

    config = _config()
    if not config.get("CX360_CRM"):
        raise click.ClickException("Set CX360_CRM to hubspot or salesforce (see README).")
    if rematch and dry_run:
        raise click.UsageError("--rematch writes; it cannot be combined with --dry-run")
    upgrade(config["CX360_DATABASE_URL"])
    app = create_app()
    with app.app_context():
        with database().session() as session:
            run = SyncRun(trigger="cli", status="queued", dry_run=dry_run, full=full,
                          rematch=rematch)  # fmt: skip
            session.add(run)
        with Progress(transient=True) as progress:
            task = progress.add_task("Pushing", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            try:
                summary = run_requested_sync(run.id, progress=advance)
            except CrmError as exc:
                raise click.ClickException(f"sync run {run.id} failed: {exc}") from exc
    if as_json:
        click.echo(json.dumps(summary, default=str, indent=2))
        return
    _print_summary(summary)


def _print_summary(summary: dict[str, Any]) -> None:
    if summary["dry_run"]:
        for item in summary["plan"] or []:
            click.echo(f"{item['subject']} {item['crm_id']}:")
            for field, value in item["changes"].items():
                click.echo(f"    {field} = {value!r}")
            if item.get("follow_up_task"):
                click.echo(f"    + task: {item['follow_up_task']}")
        changing = len(summary["plan"] or [])
        click.echo(
            f"dry run: {changing} record(s) would change, {summary['unchanged']} unchanged, "
            f"{summary['unmatched']} unmatched"
        )
        return
    click.echo(
        f"sync run {summary['id']} {summary['status']}: {summary['written']} written, "
        f"{summary['unchanged']} unchanged, {summary['rejected']} rejected, "
        f"{summary['unmatched']} unmatched, {summary['tasks_created']} task(s), "
        f"{summary['api_calls']} API call(s) in {summary['duration_seconds']:.1f}s"
    )
    for rejection in summary["rejections"]:
        click.echo(f"  rejected {rejection['subject']} {rejection['crm_id']}: "
                   f"{rejection['reason']}")  # fmt: skip


@click.group("revenue")
def revenue_command() -> None:
    """The revenue view: each account's closed-won revenue read from the CRM."""


@revenue_command.command("refresh")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def revenue_refresh_command(as_json: bool) -> None:
    """Read every matched account's revenue from the CRM now (without a worker); accounts
    whose revenue changed are pushed by the next push (cx360 sync or the worker)."""
    from connector.app import create_app
    from connector.crm.errors import CrmError
    from connector.extensions import database
    from connector.scoring import ScoringConfig
    from connector.storage import utcnow
    from connector.storage.migrate import upgrade
    from connector.sync.revenue import refresh_revenue, revenue_source
    from connector.sync.runs import crm_connection

    config = _config()
    if not config.get("CX360_CRM"):
        raise click.ClickException("Set CX360_CRM to hubspot or salesforce (see README).")
    upgrade(config["CX360_DATABASE_URL"])
    app = create_app()
    with app.app_context():
        try:
            adapter, _ = crm_connection(app.config)
            calls_before = adapter.calls.total
            report = refresh_revenue(
                database(), revenue_source(adapter), now=utcnow(),
                window_days=ScoringConfig.from_config(app.config).window_days,
            )  # fmt: skip
        except CrmError as exc:
            raise click.ClickException(f"revenue refresh failed: {exc}") from exc
    outcome = {**report.as_dict(), "api_calls": adapter.calls.total - calls_before}
    if as_json:
        click.echo(json.dumps(outcome, indent=2))
        return
    click.echo(
        f"revenue refresh: {outcome['accounts']} matched account(s), {outcome['read']} read, "
        f"{outcome['changed']} changed (queued for the push), {outcome['api_calls']} API call(s)"
    )
