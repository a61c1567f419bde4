"""CRM calls per pushed contact: cx360's batched push against a naive one-call-per-contact sync.

For each CRM, in one run against one sandbox CRM:

1. ``--contacts`` (10,000) contacts exist in the CRM; cx360 receives one NPS response for
   each (stored as the ingest API stores them: data plus outbox rows) and pushes them with
   the sync a worker runs (``run_requested_sync``). Calls are counted per stage (contact
   resolution, account resolution, field writes, follow-up tasks) from the adapter's own
   counter, and the sandbox's request counts are printed next to them.
2. The same contacts are marked changed again with nothing changed: the push must make 0
   write calls.
3. A naive sync of ``--naive`` contacts (default 1,000; 0 = all) with the real client
   libraries against the same sandbox: look each contact up by email, then write its fields
   (HubSpot ``basic_api.get_by_id``/``update``, simple-salesforce ``query``/``Contact.update``).
   Its calls and time per contact give the ratios.
4. Salesforce only: a ``--backfill`` (100,000) record update through the adapter's Bulk
   API 2.0 path (``SalesforceAdapter.write`` above its bulk threshold): calls for the job.

Targets (issue 8): HubSpot writes <= ceil(N/100)+2 and resolution <= ceil(N/100)+2;
Salesforce writes <= ceil(N/200)+2; backfill <= 10 calls; a re-run writes nothing.

    .venv/bin/python bench/crm_calls.py [--contacts 10000] [--naive 1000] [--backfill 100000]
        [--crm hubspot salesforce] [--backend production|embedded]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from _harness import (
    BASE_TIME,
    Bench,
    bench_app,
    finish,
    fresh_redis,
    postgres_database,
    sandbox_contacts,
    sandbox_server,
    score_for,
    sqlite_url,
)
from sqlalchemy import select

from connector.app import database
from connector.batching import chunked
from connector.crm.types import RecordUpdate
from connector.ingest import store_responses, write_outbox
from connector.storage import Contact, Scorecard, SyncRun
from connector.sync.runs import crm_connection, run_requested_sync
from crm_sandbox import SandboxServer

STAGES = {
    "resolve_contacts": "contact resolution",
    "resolve_accounts": "account resolution",
    "write": "field writes",
    "create_tasks": "follow-up tasks",
}


class StageCounter:
    """Attributes the adapter's calls to the push stage that made them (wraps its methods)."""

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter
        self.counts: Counter[str] = Counter()
        for method in STAGES:
            original = getattr(adapter, method)
            setattr(adapter, method, self._wrap(method, original))

    def _wrap(self, stage: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            before = self.adapter.calls.total
            try:
                return original(*args, **kwargs)
            finally:
                spent = self.adapter.calls.total - before
                self.counts[stage] += spent
                if stage == "write":  # args[0] is the subject: contact or account
                    self.counts[f"write:{args[0]}"] += spent

        return counted

    def take(self) -> Counter[str]:
        taken, self.counts = self.counts, Counter()
        return taken


def ingest(bench: Bench, emails: list[str], round_number: int) -> None:
    """One NPS response per contact, stored like the ingest API stores it."""
    with database(bench.app).session() as session:
        for start, chunk in enumerate(chunked(emails, 2000)):
            items = [
                {
                    "kind": "nps",
                    "score": score_for(start * 2000 + i, round_number),
                    "email": email,
                    "answered_at": BASE_TIME,
                    "source": "bench",
                    "external_id": f"r{round_number}-{email}",
                    "comment": "Schneller Support" if i % 3 == 0 else None,
                }
                for i, email in enumerate(chunk)
            ]
            store_responses(session, items, now=BASE_TIME)


def push(bench: Bench) -> tuple[dict[str, Any], float]:
    with bench.app.app_context():
        with database(bench.app).session() as session:
            run = SyncRun(trigger="cli", status="queued")
            session.add(run)
        started = time.perf_counter()
        summary = run_requested_sync(run.id)
    return summary, time.perf_counter() - started


def naive_sync(bench: Bench, sandbox: SandboxServer, emails: list[str]) -> tuple[int, float]:
    """Look up and write each contact on its own with the real client library."""
    with database(bench.app).session() as session:
        rows = session.execute(
            select(Contact.email, Scorecard.written)
            .join(Scorecard, Contact.id == Scorecard.subject_id)
            .where(Scorecard.subject_type == "contact", Contact.email.in_(emails))
        ).all()
    values = {r.email: dict(r.written or {}) for r in rows}
    before = sandbox.admin.stats()["total"]
    started = time.perf_counter()
    if bench.crm == "hubspot":
        from hubspot import HubSpot
        from hubspot.crm.contacts import SimplePublicObjectInput

        client = HubSpot(
            access_token=bench.config["HUBSPOT_ACCESS_TOKEN"],
            host=sandbox.url,
            ssl_ca_cert=str(sandbox.ca_path),
        )
        for email in emails:
            found = client.crm.contacts.basic_api.get_by_id(email, id_property="email")
            client.crm.contacts.basic_api.update(
                found.id,
                SimplePublicObjectInput(properties={k: str(v) for k, v in values[email].items()}),
            )
    else:
        import requests
        from simple_salesforce import Salesforce
        from simple_salesforce.format import format_soql

        http = requests.Session()
        http.verify, http.trust_env = str(sandbox.ca_path), False
        token = http.post(
            sandbox.salesforce_token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": bench.config["SALESFORCE_CLIENT_ID"],
                "client_secret": bench.config["SALESFORCE_CLIENT_SECRET"],
            },
            timeout=30,
        ).json()["access_token"]
        sf = Salesforce(instance_url=sandbox.url, session_id=token, session=http)
        for email in emails:
            found = sf.query(format_soql("SELECT Id FROM Contact WHERE Email = {}", email))
            contact_api: Any = sf.Contact  # simple-salesforce resolves object names by attribute
            contact_api.update(found["records"][0]["Id"], values[email])
    seconds = time.perf_counter() - started
    return sandbox.admin.stats()["total"] - before - (
        1 if bench.crm == "salesforce" else 0
    ), seconds


def backfill(bench: Bench, sandbox: SandboxServer, count: int) -> tuple[int, dict[str, int], float]:
    """Bulk API 2.0: one update of ``count`` Salesforce contacts through the adapter."""
    emails = sandbox_contacts(sandbox, "salesforce", count, accounts=100)
    wanted = set(emails)
    ids = [
        str(r["Id"])
        for r in sandbox.state.records("salesforce", "Contact")
        if str(r.get("Email")) in wanted
    ]
    adapter = bench.adapter()
    adapter.bulk_poll_seconds = 0.5  # type: ignore[attr-defined]
    updates = [
        RecordUpdate(crm_id=crm_id, values={"CX_NPS_Score__c": i % 11})
        for i, crm_id in enumerate(ids)
    ]
    before, by_op = adapter.calls.total, dict(adapter.calls.by_operation)
    started = time.perf_counter()
    outcomes = adapter.write("contact", updates)
    seconds = time.perf_counter() - started
    written = sum(1 for o in outcomes if o.status == "written")
    if written != len(ids):
        print(f"  backfill: only {written} of {len(ids)} written")
    ops = {
        k: v - by_op.get(k, 0) for k, v in adapter.calls.by_operation.items() if v - by_op.get(k, 0)
    }
    return adapter.calls.total - before, ops, seconds


def run_crm(
    crm: str, args: argparse.Namespace, database_url: Callable[[], AbstractContextManager[str]]
) -> list[tuple[bool, str]]:
    n = args.contacts
    results: list[tuple[bool, str]] = []
    with sandbox_server() as sandbox, database_url() as url:
        broker = fresh_redis() if args.backend == "production" else None
        with bench_app(crm, sandbox, url, broker, CX360_CRM_RATE_LIMIT="100000 per 1 second",
                       CX360_PUSH_CHUNK=args.chunk) as bench:  # fmt: skip
            print(f"\n=== {crm}: {n:,} contacts ===")
            bench.install()
            started = time.perf_counter()
            emails = sandbox_contacts(sandbox, crm, n, accounts=args.accounts)
            ingest(bench, emails, 0)
            print(
                f"set-up: {n:,} CRM contacts + responses in {time.perf_counter() - started:.1f} s"
            )
            adapter, _ = crm_connection(bench.app.config)
            stages = StageCounter(adapter)
            sandbox.admin.reset_stats()

            summary, seconds = push(bench)
            first = stages.take()
            endpoints = sandbox.admin.stats()["endpoints"]
            print(
                f"push: {summary['written']:,} records written, {summary['unmatched']} "
                f"unmatched, {summary['tasks_created']:,} follow-up tasks, "
                f"{summary['api_calls']} calls in {seconds:.1f} s"
            )
            for stage, label in STAGES.items():
                print(f"  {label:20s} {first[stage]:6d} calls")
                if stage == "write":
                    print(f"    contacts {first['write:contact']:6d}, accounts "
                          f"{first['write:account']:6d} ({args.accounts} accounts, "
                          "each written once, after their contacts)")  # fmt: skip
            print("  sandbox endpoints:", ", ".join(f"{k}={v}" for k, v in endpoints.items()))

            with database(bench.app).session() as session:
                ids = list(session.scalars(select(Contact.id)))
                write_outbox(session, ids, [], now=BASE_TIME, reason="bench-rerun")
            summary2, seconds2 = push(bench)
            second = stages.take()
            print(
                f"re-run, nothing changed: {second['write']} write calls, "
                f"{sum(second.values())} calls in all, {summary2['unchanged']:,} unchanged, "
                f"{seconds2:.1f} s"
            )

            sample = emails if args.naive <= 0 else emails[: min(args.naive, n)]
            naive_calls, naive_seconds = naive_sync(bench, sandbox, sample)
            batched_calls = first["resolve_contacts"] + first["write:contact"]
            per_naive = naive_calls / len(sample)
            per_batched = batched_calls / n
            print(
                f"naive sync of {len(sample):,} contacts: {naive_calls:,} calls "
                f"({per_naive:.2f}/contact) in {naive_seconds:.1f} s "
                f"({naive_seconds / len(sample) * 1000:.2f} ms/contact)"
            )
            print(
                f"ratio naive/batched (resolve + write): calls per contact "
                f"{per_naive / per_batched:,.0f}x, time per contact "
                f"{(naive_seconds / len(sample)) / (seconds / n):,.1f}x "
                f"(batched push {seconds / n * 1000:.2f} ms/contact incl. recompute)"
            )

            batch = 100 if crm == "hubspot" else 200
            limit = math.ceil(n / batch) + 2
            contact_writes = first["write:contact"]
            results.append(
                (contact_writes <= limit, f"{crm} contact field writes {contact_writes} calls <= "
                 f"ceil({n}/{batch})+2 = {limit}")
            )  # fmt: skip
            if crm == "hubspot":
                results.append(
                    (first["resolve_contacts"] <= math.ceil(n / 100) + 2,
                     f"hubspot contact resolution {first['resolve_contacts']} calls <= "
                     f"{math.ceil(n / 100) + 2}")
                )  # fmt: skip
            results.append(
                (second["write"] == 0, f"{crm} re-run with nothing changed: {second['write']} "
                 "write calls (0)")
            )  # fmt: skip
            if crm == "salesforce" and args.backfill > 0:
                calls, ops, bf_seconds = backfill(bench, sandbox, args.backfill)
                print(
                    f"Bulk API 2.0 backfill of {args.backfill:,} records: {calls} calls "
                    f"({', '.join(f'{k}={v}' for k, v in ops.items())}) in {bf_seconds:.1f} s"
                )
                results.append(
                    (
                        calls <= 10,
                        f"salesforce {args.backfill:,}-record backfill {calls} calls <= 10",
                    )
                )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--chunk", type=int, default=1000, help="CX360_PUSH_CHUNK")
    parser.add_argument("--naive", type=int, default=1000, help="naive sample; 0 = all")
    parser.add_argument("--backfill", type=int, default=100_000, help="0 skips it")
    parser.add_argument("--crm", nargs="+", default=["hubspot", "salesforce"])
    parser.add_argument("--backend", choices=["production", "embedded"], default="production")
    args = parser.parse_args()

    def database_url() -> Any:
        if args.backend == "production":
            return postgres_database("cx360_bench_calls")
        return _sqlite()

    results: list[tuple[bool, str]] = []
    for crm in args.crm:
        results += run_crm(crm, args, database_url)
    return finish(results)


class _sqlite:
    def __enter__(self) -> str:
        self.folder = tempfile.TemporaryDirectory(prefix="cx360-bdb-")
        return sqlite_url(Path(self.folder.name))

    def __exit__(self, *exc: object) -> None:
        self.folder.cleanup()


if __name__ == "__main__":
    sys.exit(main())
