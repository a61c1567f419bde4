"""The sync tasks: relay the outbox, push subjects, run a requested sync.

Thin on purpose: they open a session, call ``connector.sync``, record the run and decide about
retries. Every task takes ids and is safe to run twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from flask import current_app

from connector.batching import chunked
from connector.crm.errors import FatalCrmError, RetriableCrmError
from connector.extensions import database
from connector.storage import utcnow
from connector.storage.heartbeats import RELAY, record_heartbeat
from connector.sync import outbox
from connector.sync.runs import close_lost_runs, execute_push, run_lease, run_requested_sync
from tasks.retries import retry_later

log = logging.getLogger(__name__)


def _backoff(retries: int) -> float:
    return float(min(5 * 2**retries, 300))


@shared_task(name="cx360.relay_outbox")
def relay_outbox(kicked: bool = False) -> dict[str, int]:
    """Turn pending outbox rows into push tasks (beat runs it; ingest kicks it, ``kicked``).

    Beat's runs record a heartbeat: readiness fails when they stop (beat down), also while
    ingest keeps kicking, since the kicks never pick up what a lost task left behind. They
    also close the sync runs whose worker was lost."""
    config = current_app.config
    lease = timedelta(seconds=int(config["CX360_OUTBOX_LEASE_SECONDS"]))
    with database().session() as session:
        now = utcnow()
        claim = outbox.claim_pending(session, now=now, lease=lease)
        if not kicked:
            record_heartbeat(session, RELAY, now)
            close_lost_runs(session, now=now, lease=run_lease(config))
    chunk = int(config["CX360_PUSH_CHUNK"])
    tasks = 0
    for contact_ids in chunked(claim.contact_ids, chunk):
        push_subjects.delay(list(contact_ids), [])
        tasks += 1
    for account_ids in chunked(claim.account_ids, chunk):
        push_subjects.delay([], list(account_ids))
        tasks += 1
    if claim.rows:  # an idle relay says nothing at INFO (it runs every few seconds)
        log.info("relay: %d outbox row(s) into %d push task(s)", claim.rows, tasks)
    return {"rows": claim.rows, "tasks": tasks}


@shared_task(bind=True, name="cx360.push_subjects", max_retries=None)
def push_subjects(self: Any, contact_ids: list[int], account_ids: list[int]) -> dict[str, Any]:
    """Recompute and push these subjects; retry on transient CRM errors."""
    try:
        return execute_push(contact_ids, account_ids, trigger="outbox")
    except RetriableCrmError as exc:
        what = f"push of {len(contact_ids)} contacts, {len(account_ids)} accounts"
        raise retry_later(self, exc, _backoff(self.request.retries), what) from exc
    except FatalCrmError as exc:
        # Retrying will not help until someone fixes the setup; the outbox backs off.
        log.error("push failed: %s", exc)
        return {"status": "failed", "error": str(exc)}


@shared_task(bind=True, name="cx360.run_sync", max_retries=None)
def run_sync(self: Any, run_id: int) -> dict[str, Any]:
    """A sync requested through the API (POST /api/v1/syncs)."""
    try:
        return run_requested_sync(run_id)
    except RetriableCrmError as exc:
        what = f"sync run {run_id}"
        raise retry_later(self, exc, _backoff(self.request.retries), what) from exc
