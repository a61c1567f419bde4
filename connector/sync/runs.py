"""Sync runs: one push (from the outbox) or a requested sync (API, CLI), recorded with counts.

``execute_push`` is what the outbox's push task runs; ``run_requested_sync`` is what
``POST /api/v1/syncs`` and ``cx360 sync`` run: the pending changes (or, with ``full``, every
known contact and account) in chunks, optionally as a dry run that only plans.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import Token
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from connector import logs
from connector.batching import chunked
from connector.crm.errors import CrmError, FatalCrmError, RetriableCrmError
from connector.crm.factory import adapter_from_config
from connector.crm.mapping import CrmMapping, load_mapping
from connector.crm.types import CrmAdapter
from connector.extensions import database
from connector.metrics import CRM_RECORDS, PUSH_LAG, SYNC_RUN_SECONDS
from connector.scoring import ScoringConfig
from connector.storage import Account, Contact, Database, OutboxItem, SyncRun, utcnow
from connector.sync import outbox
from connector.sync.identity import rematch
from connector.sync.push import Pusher, PushReport
from connector.sync.throttle import throttle_adapter

log = logging.getLogger(__name__)
_connections: dict[tuple[str, str], tuple[CrmAdapter, CrmMapping]] = {}
_lock = threading.Lock()
Progress = Callable[[int, int], None]
# Contacts per chunk of a full sync: above Salesforce's Bulk API 2.0 threshold, bounded memory.
FULL_SYNC_CHUNK = 20_000
#: Unmatched contacts (and accounts) each push looks up again, least recently checked first:
#: resolution is in bulk (HubSpot 100, Salesforce 200 per call), so a few calls per push.
UNMATCHED_PER_PUSH = 1000
#: An automatic push looks a contact up again at most this often (a requested sync always).
UNMATCHED_RECHECK = timedelta(minutes=15)


def crm_connection(config: Mapping[str, Any]) -> tuple[CrmAdapter, CrmMapping]:
    """The configured CRM's adapter and mapping, made once per process (tokens are reused)."""
    crm = str(config.get("CX360_CRM") or "")
    key = (crm, str(config.get("HUBSPOT_BASE_URL") or config.get("SALESFORCE_INSTANCE_URL")))
    with _lock:
        if key not in _connections:
            adapter = adapter_from_config(config)
            throttle_adapter(adapter, config)
            _connections[key] = (adapter, load_mapping(adapter.crm, config))
        return _connections[key]


def forget_connections() -> None:
    with _lock:
        _connections.clear()


def run_lease(config: Mapping[str, Any]) -> timedelta:
    return timedelta(seconds=float(config.get("CX360_SYNC_RUN_LEASE_SECONDS", 60.0)))


class LeaseKeeper:
    """Keeps a running run's lease while its worker works: a thread renews ``heartbeat_at``
    every quarter lease on a connection of its own, so a push that waits minutes on one CRM
    call still shows a live worker. A killed worker renews nothing, and the run is closed
    (``close_lost_runs``)."""

    def __init__(self, db: Database, run_id: int, lease: timedelta) -> None:
        self.db, self.run_id, self.lease = db, run_id, lease
        self._stop = threading.Event()
        self._logged_as: Token[int | None] | None = None
        self._thread = threading.Thread(target=self._keep, name=f"sync-run-{run_id}-lease",
                                        daemon=True)  # fmt: skip

    def start(self) -> LeaseKeeper:
        """Keep the lease; until ``stop``, this thread's log lines carry ``sync_run_id``."""
        self._logged_as = logs.sync_run_id.set(self.run_id)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._logged_as is not None:
            logs.sync_run_id.reset(self._logged_as)
            self._logged_as = None

    def _keep(self) -> None:
        renew = (update(SyncRun).where(SyncRun.id == self.run_id, SyncRun.status == "running")
                 .execution_options(synchronize_session=False))  # fmt: skip
        while not self._stop.wait(self.lease.total_seconds() / 4):
            try:
                with self.db.engine.begin() as connection:
                    connection.execute(renew.values(heartbeat_at=utcnow()))
            except SQLAlchemyError as exc:  # the next beat tries again; the lease has room
                log.warning("sync run %s: lease not renewed (%s)", self.run_id,
                            type(exc).__name__)  # fmt: skip


def close_lost_runs(session: Session, *, now: datetime, lease: timedelta) -> list[int]:
    """Close as failed the running runs whose lease ran out: their worker was lost (killed,
    out of memory, host gone). Cheap when there are none: the partial index holds only the
    running runs. A run started by a release without leases is judged by its start."""
    last_sign = func.coalesce(SyncRun.heartbeat_at, SyncRun.started_at)
    lost = session.execute(
        select(SyncRun.id, last_sign.label("last_sign"))
        .where(SyncRun.status == "running", last_sign < now - lease)
        .with_for_update(skip_locked=True)
    ).all()
    for run_id, last in lost:
        session.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id, SyncRun.status == "running")
            .values(status="failed", finished_at=now,
                    error=f"worker lost: no heartbeat since {last:%Y-%m-%d %H:%M:%S} UTC")
            .execution_options(synchronize_session=False)
        )  # fmt: skip
    if lost:
        log.warning("closed sync runs %s: their worker was lost", [r for r, _ in lost])
    return [run_id for run_id, _ in lost]


def unmatched_due(
    session: Session, *, now: datetime, every: timedelta, skip: Sequence[int] = ()
) -> tuple[list[int], list[int]]:
    """Unmatched contacts (looked up before and not found) not looked up within ``every``,
    and with a requested sync the unmatched accounts, up to ``UNMATCHED_PER_PUSH`` each: a
    push resolves them again, so a person added to the CRM later is matched without
    ``--full``. Subjects never looked up come with their own outbox rows."""
    skipped = set(skip)
    contacts = session.scalars(
        select(Contact.id)
        .where(Contact.crm_id.is_(None), Contact.email.is_not(None))
        .where(Contact.unmatched_since.is_not(None))
        .where(
            (Contact.unmatched_checked_at.is_(None)) | (Contact.unmatched_checked_at <= now - every)
        )
        .order_by(Contact.unmatched_checked_at.asc().nulls_first(), Contact.id)
        .limit(UNMATCHED_PER_PUSH + len(skipped))
    )
    due = [c for c in contacts if c not in skipped][:UNMATCHED_PER_PUSH]
    accounts: list[int] = []
    if not every:
        accounts = list(
            session.scalars(
                select(Account.id)
                .where(Account.crm_id.is_(None), Account.domain.is_not(None))
                .where(Account.unmatched_since.is_not(None))
                .order_by(Account.id)
                .limit(UNMATCHED_PER_PUSH)
            )
        )
    return due, accounts


def _record(run: SyncRun, report: PushReport, calls: int, *, finished: datetime) -> None:
    run.written, run.unchanged, run.rejected = report.written, report.unchanged, report.rejected
    run.unmatched, run.tasks_created = report.unmatched, report.tasks_created
    run.api_calls = calls
    run.rejections = report.rejections[:1000]
    run.plan = report.plan if run.dry_run else None
    run.finished_at = finished
    # every rejected record, and every rejected follow-up task, is in the rejections
    run.status = "partial" if report.rejections or report.retry_contacts else "succeeded"
    if not run.dry_run:  # a dry run's figures are a plan: nothing was written
        for outcome in ("written", "unchanged", "rejected", "unmatched"):
            CRM_RECORDS.labels(run.crm, outcome).inc(getattr(report, outcome))
    _observe_duration(run)
    log.info("sync run %s %s: %d written, %d unchanged, %d rejected, %d unmatched, %d task(s), "
             "%d CRM call(s)", run.id, run.status, run.written, run.unchanged, run.rejected,
             run.unmatched, run.tasks_created, calls)  # fmt: skip


def _observe_lag(crm: str, arrived: list[datetime], pushed: datetime) -> None:
    """How long each change pushed waited, from its arrival in the outbox."""
    lag = PUSH_LAG.labels(crm)
    for at in arrived:
        lag.observe(max((pushed - at).total_seconds(), 0.0))


def _observe_duration(run: SyncRun) -> None:
    """A finished run's duration in the worker's metrics, by trigger and status."""
    if run.started_at is not None and run.finished_at is not None:
        seconds = (run.finished_at - run.started_at).total_seconds()
        SYNC_RUN_SECONDS.labels(run.trigger, run.status).observe(seconds)


def outbox_lease(config: Mapping[str, Any]) -> timedelta:
    """How long a claimed change, and a claimed follow-up task, is one worker's to push."""
    return timedelta(seconds=int(config["CX360_OUTBOX_LEASE_SECONDS"]))


def execute_push(contact_ids: list[int], account_ids: list[int], *, trigger: str) -> dict[str, Any]:
    """Push changed subjects, record the run, and mark their outbox rows done."""
    config = current_app.config
    adapter, mapping = crm_connection(config)
    db = database()
    started = utcnow()
    with db.session() as session:
        run = SyncRun(trigger=trigger, crm=adapter.crm, status="running", started_at=started,
                      heartbeat_at=started)  # fmt: skip
        session.add(run)
    lease = LeaseKeeper(db, run.id, run_lease(config)).start()
    calls_before = adapter.calls.total
    session = db.sessions()
    try:
        again, _ = unmatched_due(session, now=started, every=UNMATCHED_RECHECK, skip=contact_ids)
        pusher = Pusher(session, adapter, mapping, ScoringConfig.from_config(config), now=started,
                        task_lease=outbox_lease(config))  # fmt: skip
        report = pusher.push([*contact_ids, *again], account_ids)
        pushed = utcnow()
        arrived = outbox.complete(
            session,
            contact_ids=set(contact_ids) - report.retry_contacts,
            account_ids=set(account_ids) - report.retry_accounts,
            started_at=started,
            now=pushed,
        )
        run = session.merge(run)
        _record(run, report, adapter.calls.total - calls_before, finished=utcnow())
        session.commit()
        _observe_lag(adapter.crm, arrived, pushed)
        return {"run": run.id, "status": run.status, "written": report.written}
    except CrmError as exc:
        session.rollback()
        if isinstance(exc, FatalCrmError):
            outbox.back_off(
                session,
                contact_ids=contact_ids,
                account_ids=account_ids,
                now=utcnow(),
                base=timedelta(seconds=30),
            )
        run = session.merge(run)
        run.status = "failed"
        run.error = str(exc)[:2000]
        run.api_calls = adapter.calls.total - calls_before
        run.finished_at = utcnow()
        session.commit()
        _observe_duration(run)
        raise
    finally:
        lease.stop()
        session.close()


def _subjects(
    session: Session, run: SyncRun, now: datetime, lease: timedelta
) -> tuple[list[int], list[int]]:
    if run.full or run.rematch:
        contacts = list(session.scalars(select(Contact.id).order_by(Contact.id)))
        accounts = list(session.scalars(select(Account.id).order_by(Account.id)))
        return contacts, accounts
    if run.dry_run:
        rows = session.execute(
            select(OutboxItem.subject_type, OutboxItem.subject_id).where(
                OutboxItem.processed_at.is_(None)
            )
        ).all()
        return (
            sorted({r.subject_id for r in rows if r.subject_type == "contact"}),
            sorted({r.subject_id for r in rows if r.subject_type == "account"}),
        )
    claim = outbox.claim_pending(session, now=now, lease=lease)
    contacts, accounts = unmatched_due(session, now=now, every=timedelta(0),
                                       skip=claim.contact_ids)  # fmt: skip
    return sorted({*claim.contact_ids, *contacts}), sorted({*claim.account_ids, *accounts})


def _chunks(
    contacts: list[int], accounts: list[int], size: int, report: PushReport
) -> Iterator[tuple[Sequence[int], str]]:
    """Contact chunks first, then the accounts: those claimed plus those the contacts' push
    linked (known only once the contacts are done), each account once."""
    for ids in chunked(contacts, size):
        yield ids, "contact"
    every = sorted(set(accounts) | report.linked_accounts)
    for ids in chunked(every, size):
        yield ids, "account"


def run_requested_sync(run_id: int, progress: Progress | None = None) -> dict[str, Any]:
    """Run a queued SyncRun: pending changes (or all with ``full``), in chunks."""
    config = current_app.config
    adapter, mapping = crm_connection(config)
    db = database()
    scoring = ScoringConfig.from_config(config)
    chunk = int(config["CX360_PUSH_CHUNK"])
    session = db.sessions()
    keeper: LeaseKeeper | None = None
    try:
        run = session.get(SyncRun, run_id)
        if run is None:
            raise LookupError(f"no sync run {run_id}")
        started = utcnow()
        run.status, run.started_at, run.crm = "running", started, adapter.crm
        run.heartbeat_at = started
        session.commit()  # running, with its lease, from now on
        keeper = LeaseKeeper(db, run_id, run_lease(config)).start()
        lease = outbox_lease(config)
        if run.rematch and not run.dry_run:
            log.warning("sync run %s: rematching to %s", run_id,
                        rematch(session, adapter, now=started))  # fmt: skip
            run = session.get(SyncRun, run_id) or run
        full = run.full or run.rematch
        contacts, accounts = _subjects(session, run, started, lease)
        session.commit()
        if full:
            chunk = max(chunk, FULL_SYNC_CHUNK)  # large enough for the CRM's bulk API
        total = len(contacts) + len(accounts)
        report = PushReport()
        calls_before = adapter.calls.total
        done = 0
        try:
            for ids, subject in _chunks(contacts, accounts, chunk, report):
                pusher = Pusher(
                    session,
                    adapter,
                    mapping,
                    scoring,
                    now=utcnow(),
                    dry_run=run.dry_run,
                    full=full,
                    task_lease=lease,
                )
                part = pusher.push(
                    ids if subject == "contact" else [], ids if subject == "account" else []
                )
                report.merge(part)
                if not run.dry_run:
                    pushed = utcnow()
                    arrived = outbox.complete(
                        session,
                        contact_ids=set(ids if subject == "contact" else []) - part.retry_contacts,
                        account_ids=set(ids if subject == "account" else []) - part.retry_accounts,
                        started_at=started,
                        now=pushed,
                    )
                    session.commit()
                    _observe_lag(adapter.crm, arrived, pushed)
                done += len(ids)
                if progress:
                    progress(done, total)
        except FatalCrmError as exc:
            session.rollback()
            run = session.get(SyncRun, run_id) or run
            run.status, run.error, run.finished_at = "failed", str(exc)[:2000], utcnow()
            run.api_calls = adapter.calls.total - calls_before
            session.commit()
            _observe_duration(run)
            raise
        except RetriableCrmError as exc:
            # queued again until the task's retry: no worker holds it meanwhile
            run = session.get(SyncRun, run_id) or run
            run.status, run.error = "queued", f"retrying: {exc}"[:2000]
            session.commit()
            raise
        run = session.get(SyncRun, run_id) or run
        _record(run, report, adapter.calls.total - calls_before, finished=utcnow())
        session.commit()
        return run_summary(run)
    finally:
        if keeper is not None:
            keeper.stop()
        session.close()


def run_summary(run: SyncRun) -> dict[str, Any]:
    duration = (
        (run.finished_at - run.started_at).total_seconds()
        if run.finished_at and run.started_at
        else None
    )
    return {
        "id": run.id,
        "trigger": run.trigger,
        "crm": run.crm,
        "status": run.status,
        "dry_run": run.dry_run,
        "full": run.full,
        "rematch": run.rematch,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_seconds": duration,
        "written": run.written,
        "unchanged": run.unchanged,
        "rejected": run.rejected,
        "unmatched": run.unmatched,
        "tasks_created": run.tasks_created,
        "api_calls": run.api_calls,
        "rejections": run.rejections or [],
        "plan": run.plan,
        "error": run.error,
    }
