"""Refreshing the stored revenue of every matched account from the CRM (issue #22).

The adapter reads closed-won deals in the window for a batch of CRM account ids
(``read_account_revenue``); each batch is stored and committed on its own, and the accounts
whose revenue changed go to the outbox in the same transaction, so the normal push writes
their ``revenue.*`` fields (diff-only). The adapter's calls wait for the shared CRM budget
like every push does (``connector.sync.throttle``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from sqlalchemy import select

from connector.batching import chunked
from connector.crm.errors import FatalCrmError
from connector.revenue import RevenueReading, store_revenue
from connector.storage import Account, Database

#: CRM account ids per read: Salesforce's aggregate query groups at most 2,000 rows.
REVENUE_BATCH = 2000


@runtime_checkable
class RevenueSource(Protocol):
    """What an adapter offers to read revenue (``connector.crm`` adapters)."""

    def read_account_revenue(
        self, crm_account_ids: Sequence[str], window_days: int
    ) -> Mapping[str, RevenueReading]: ...


def revenue_source(adapter: object) -> RevenueSource:
    """The adapter as a revenue source, or a fatal error saying it cannot read revenue."""
    if not isinstance(adapter, RevenueSource):
        raise FatalCrmError(
            f"the {getattr(adapter, 'crm', 'CRM')} adapter cannot read revenue", kind="config"
        )
    return adapter


@dataclass
class RevenueRefresh:
    """What one refresh did: accounts asked for, answered, changed (queued for a push)."""

    accounts: int = 0
    read: int = 0
    changed: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"accounts": self.accounts, "read": self.read, "changed": len(self.changed)}


def matched_accounts(db: Database) -> list[tuple[int, str]]:
    """(account id, CRM id) of every account matched to a CRM record, by id."""
    with db.session() as session:
        rows = session.execute(
            select(Account.id, Account.crm_id)
            .where(Account.crm_id.is_not(None), Account.unmatched_since.is_(None))
            .order_by(Account.id)
        )
        return [(row.id, str(row.crm_id)) for row in rows]


def refresh_revenue(
    db: Database,
    source: RevenueSource,
    *,
    now: datetime,
    window_days: int,
    batch: int | None = None,
) -> RevenueRefresh:
    """Read and store the revenue of every matched account, one committed batch at a time
    (a failure keeps the batches already stored; running it again is harmless). The batch is
    the adapter's ``revenue_batch`` when it names one (what one read costs least for)."""
    batch = batch or int(getattr(source, "revenue_batch", REVENUE_BATCH))
    accounts = matched_accounts(db)
    report = RevenueRefresh(accounts=len(accounts))
    for part in chunked(accounts, batch):
        readings = source.read_account_revenue([crm_id for _, crm_id in part], window_days)
        found = {aid: readings[crm_id] for aid, crm_id in part if crm_id in readings}
        report.read += len(found)
        with db.session() as session:
            report.changed += store_revenue(session, found, now=now)
    return report
