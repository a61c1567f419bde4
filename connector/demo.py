"""``cx360 demo``: the whole product on embedded defaults, nothing to install.

It starts the sandbox CRM (HTTPS, its own CA), migrates a SQLite database under
``instance/demo/``, starts a real Celery worker process on the embedded Redis broker, creates
cx360's custom fields in the sandbox (``cx360 install``), starts the web app, posts the shipped
sample responses and ratings through the REST API over HTTP (as an integrator would), waits for
the push, and prints the contacts' and accounts' scores as read back from the sandbox CRM
through the client library. ``--once`` exits after that; otherwise it keeps serving.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from rich.console import Console
from rich.table import Table
from werkzeug.serving import make_server

from connector.app import create_app
from connector.auth import create_api_key
from connector.broker import ensure_embedded_redis, stop_embedded_redis
from connector.config import finish_config
from connector.extensions import database
from connector.storage.migrate import upgrade

SAMPLE_DIR = Path(__file__).parent / "sample_data"
BATCH = 200
PUSH_TIMEOUT_SECONDS = 180
CONTACT_COLUMNS = (
    ("NPS", "nps.score"), ("category", "nps.category"), ("CSAT %", "csat.pct"),
    ("rNPS", "rnps.score"), ("potential", "rnps.potential_avg"), ("segment", "cx360.segment"),
    ("revenue", "revenue.amount"), ("cur.", "revenue.currency"),
)  # fmt: skip
ACCOUNT_COLUMNS = (
    ("NPS", "nps.score"), ("±MoE", "nps.moe"), ("N", "nps.responses"), ("CSAT %", "csat.pct"),
    ("rNPS", "rnps.score"), ("potential", "rnps.potential_avg"), ("segment", "cx360.segment"),
    ("revenue", "revenue.amount"), ("cur.", "revenue.currency"),
)  # fmt: skip


def sample_items(name: str) -> list[dict[str, Any]]:
    with open(SAMPLE_DIR / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@contextmanager
def served(app: Flask, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """``app`` behind a real threaded HTTP server (as under gunicorn, each request its own app
    context and teardown, a chunked body handed over without a length); yields its base URL.
    Port 0: any free port."""
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


@contextmanager
def running_app(config: dict[str, Any], host: str, port: int) -> Iterator[str]:
    """The web app served on a real socket in a thread; yields its base URL."""
    app = create_app(config)
    try:
        with served(app, host, port) as url:
            yield url
    finally:
        database(app).dispose()


def load_samples(base_url: str, key: str) -> dict[str, int]:
    """Post the sample responses and ratings in batches; returns counts per kind of item."""
    headers = {"Authorization": f"Bearer {key}"}
    counts = {"responses": 0, "ratings": 0}
    with requests.Session() as http:
        for kind, path in (("responses", "responses.jsonl"), ("ratings", "ratings.jsonl")):
            items = sample_items(path)
            for start in range(0, len(items), BATCH):
                reply = http.post(
                    f"{base_url}/api/v1/{kind}",
                    json={kind: items[start : start + BATCH]},
                    headers=headers,
                    timeout=60,
                )
                reply.raise_for_status()
                counts[kind] += len(items[start : start + BATCH])
    return counts


DEMO_ADMIN = "anna.berger@cx360-demo.example"


def demo_config(base: dict[str, Any], crm: str, sandbox_settings: dict[str, str]) -> dict[str, Any]:
    instance = Path(base["CX360_INSTANCE_PATH"]) / "demo"
    config = dict(base)
    config.update(sandbox_settings)
    config.update(
        CX360_INSTANCE_PATH=str(instance),
        CX360_DATABASE_URL=f"sqlite:///{instance / 'cx360.db'}",
        CX360_BROKER_URL="",
        CX360_REDIS_URL="",
        CX360_CRM=crm,
    )
    return finish_config(config)


def _environment(config: dict[str, Any]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("CX360_", "HUBSPOT_", "SALESFORCE_"))}  # fmt: skip
    return {**keep, **{k: str(v) for k, v in config.items() if v not in (None, "")}}


def _outbox_pending(config: dict[str, Any]) -> int:
    from connector.storage import Database
    from connector.sync.outbox import pending_count

    db = Database(config["CX360_DATABASE_URL"])
    try:
        with db.session() as session:
            return pending_count(session)
    finally:
        db.dispose()


def _wait_for_push(config: dict[str, Any], worker: subprocess.Popen[bytes], log_path: Path,
                   console: Console, what: str) -> bool:  # fmt: skip
    """Wait until the worker has pushed the outbox; False (said why) when it cannot."""
    started = time.monotonic()
    with console.status(f"Waiting for the worker to push {what} to the CRM..."):
        while _outbox_pending(config):
            if worker.poll() is not None:
                console.print(log_path.read_text(errors="replace")[-3000:])
                console.print(f"[red]The worker exited ({worker.returncode}).")
                return False
            if time.monotonic() - started > PUSH_TIMEOUT_SECONDS:
                console.print(f"[red]The push did not finish in {PUSH_TIMEOUT_SECONDS}s; "
                              f"see {log_path}")  # fmt: skip
                return False
            time.sleep(0.5)
    return True


def _refresh_revenue(config: dict[str, Any]) -> int:
    """Read the matched accounts' revenue from the CRM as ``cx360 revenue refresh`` does (the
    sandbox's sample deals); the changed ones go to the outbox. Returns how many were read."""
    from connector.scoring import ScoringConfig
    from connector.storage import utcnow
    from connector.sync.revenue import refresh_revenue, revenue_source
    from connector.sync.runs import crm_connection

    app = create_app(config)
    with app.app_context():
        adapter, _ = crm_connection(app.config)
        report = refresh_revenue(
            database(app), revenue_source(adapter), now=utcnow(),
            window_days=ScoringConfig.from_config(app.config).window_days,
        )  # fmt: skip
    database(app).dispose()
    return report.read


def read_back(config: dict[str, Any]) -> tuple[list[tuple[str, dict[str, Any]]], ...]:
    """Contacts' and accounts' cx360 fields as the CRM holds them, by metric key."""
    from connector.crm.factory import adapter_from_config
    from connector.crm.mapping import load_mapping
    from connector.crm.types import RecordKey

    adapter = adapter_from_config(config)
    mapping = load_mapping(adapter.crm, config)
    contacts = sorted({i["email"] for i in sample_items("responses.jsonl")})
    domains = sorted({i["account_domain"] for i in sample_items("responses.jsonl")
                      if i.get("account_domain")})  # fmt: skip
    results: list[list[tuple[str, dict[str, Any]]]] = []
    for subject, keys in (("contact", contacts), ("account", domains)):
        subject_mapping = mapping.contact if subject == "contact" else mapping.account
        record_keys = [RecordKey(email=k) if subject == "contact" else RecordKey(domain=k)
                       for k in keys]  # fmt: skip
        refs = (adapter.resolve_contacts(record_keys) if subject == "contact"
                else adapter.resolve_accounts(record_keys))  # fmt: skip
        fields = {f.field: f for f in subject_mapping.written()}
        found = adapter.read(subject, [r.crm_id for r in refs.values()], list(fields))  # type: ignore[arg-type]
        rows = []
        for key, record_key in zip(keys, record_keys, strict=True):
            ref = refs.get(record_key)
            if ref is None:
                continue
            values = found.get(ref.crm_id, {})
            rows.append((key, {fields[f].metric: v for f, v in values.items() if f in fields}))
        results.append(rows)
    return results[0], results[1]


def _table(title: str, rows: list[tuple[str, dict[str, Any]]],
           columns: tuple[tuple[str, str], ...], first: str) -> Table:  # fmt: skip
    table = Table(title=title)
    table.add_column(first)
    for name, _ in columns:
        table.add_column(name, justify="right")
    for key, values in rows:
        table.add_row(key, *("-" if values.get(m) in (None, "") else str(values[m])
                             for _, m in columns))  # fmt: skip
    return table


def run_demo(
    base_config: dict[str, Any],
    *,
    crm: str = "hubspot",
    once: bool = False,
    port: int = 8360,
    sandbox_port: int = 8443,
    console: Console | None = None,
) -> int:
    from connector.crm.factory import adapter_from_config
    from connector.crm.mapping import load_mapping
    from connector.crm.provisioning import apply_install, plan_install
    from crm_sandbox import SandboxServer

    # Piped output (CI logs, files) gets a width that fits an email column.
    console = console or Console(width=None if sys.stdout.isatty() else 110)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log in the demo
    instance = Path(base_config["CX360_INSTANCE_PATH"]) / "demo"
    (instance / "cx360.db").unlink(missing_ok=True)  # a fresh, reproducible run each time
    for stale in instance.glob("cx360.db-*"):
        stale.unlink()
    sandbox_dir = instance / "sandbox"
    (sandbox_dir / "state.json").unlink(missing_ok=True)
    with ExitStack() as stack:
        sandbox = SandboxServer(crm="both", port=sandbox_port, state_dir=sandbox_dir,
                                state_file=sandbox_dir / "state.json")  # fmt: skip
        stack.enter_context(sandbox)
        console.print(f"Sandbox CRM (Salesforce and HubSpot) on {sandbox.url}")
        # People sign in to the pages as the sandbox's users; Anna Berger is an admin.
        sign_in = {**sandbox.sign_in_settings(), "CX360_SSO_ADMIN_EMAILS": DEMO_ADMIN}
        config = demo_config(base_config, crm, {**sandbox.client_settings(), **sign_in})
        upgrade(config["CX360_DATABASE_URL"])
        ensure_embedded_redis(config["CX360_INSTANCE_PATH"])
        stack.callback(stop_embedded_redis, config["CX360_INSTANCE_PATH"])

        adapter = adapter_from_config(config)
        changes = apply_install(adapter, plan_install(adapter, load_mapping(crm, config)))
        console.print(f"Installed {len(changes)} custom field(s) in the sandbox's {crm}")

        log_path = instance / "worker.log"
        worker_log = stack.enter_context(open(log_path, "wb"))
        worker = subprocess.Popen(
            [sys.executable, "-m", "connector.cli", "worker", "-c", "1", "--beat",
             "--loglevel", "WARNING"],
            env=_environment(config), stdout=worker_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        stack.callback(_stop, worker)
        console.print(f"Worker process {worker.pid} started (log: {log_path})")

        app = create_app(config)
        with database(app).session() as session:
            _, ingest_key = create_api_key(session, "ingest", "demo ingest")
            _, read_key = create_api_key(session, "read", "demo read")
            _, admin_key = create_api_key(session, "admin", "demo admin")
        database(app).dispose()
        base_url = stack.enter_context(running_app(config, "127.0.0.1", port))
        counts = load_samples(base_url, ingest_key)
        console.print(f"Posted {counts['responses']} responses and {counts['ratings']} "
                      f"employee ratings to {base_url}/api/v1")  # fmt: skip

        started = time.monotonic()
        if not _wait_for_push(config, worker, log_path, console, "the scores"):
            return 1
        console.print(f"Pushed in {time.monotonic() - started:.1f}s")
        read = _refresh_revenue(config)
        console.print(f"Read the closed-won revenue of {read} account(s) from the {crm} sandbox")
        if not _wait_for_push(config, worker, log_path, console, "the revenue"):
            return 1

        contacts, accounts = read_back(config)
        console.print(_table(f"Contacts as the {crm} sandbox holds them (read back)", contacts,
                             CONTACT_COLUMNS, "email"))  # fmt: skip
        console.print(_table(f"Accounts as the {crm} sandbox holds them (read back)", accounts,
                             ACCOUNT_COLUMNS, "domain"))  # fmt: skip
        task_object = "tasks" if crm == "hubspot" else "Task"
        tasks = sandbox.admin.records(crm, task_object)
        console.print(f"Follow-up tasks for new detractors created in the CRM: {len(tasks)}")
        listed = requests.get(f"{base_url}/api/v1/unmatched", timeout=30,
                              headers={"Authorization": f"Bearer {read_key}"}).json()  # fmt: skip
        console.print("Unmatched (kept, matched again on every sync): "
                      + ", ".join(row["key"] for row in listed))  # fmt: skip
        if once:
            return 0
        console.print(f"\nAPI docs:     {base_url}/api/docs")
        console.print(f"Dashboard:    {base_url}/  (sign in with Salesforce or HubSpot as "
                      f"one of the sandbox's users; {DEMO_ADMIN} is an admin)")  # fmt: skip
        console.print(f"Sandbox CRM:  {sandbox.url}/__sandbox__/info (CA: {sandbox.ca_path})")
        console.print(f"Read key:     {read_key}")
        console.print(f"Admin key:    {admin_key}")
        console.print(f"Try:          curl -H 'Authorization: Bearer {read_key}' "
                      f"{base_url}/api/v1/accounts/{accounts[0][0]}/scorecard")  # fmt: skip
        console.print("Serving; press Ctrl-C to stop.")
        try:
            while worker.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            console.print("stopping")
    return 0


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
