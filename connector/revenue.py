"""The revenue view in storage: the accounts' revenue as read from the CRM, and the portfolio
the dashboard and ``GET /api/v1/stats/revenue`` show (the scoring core does the arithmetic:
``connector.scoring.revenue``).

What is stored is what the CRM said: ``amount`` None with deals means the CRM could not give
one currency (``note`` says so). No won deal in the window is a revenue of 0, never "unknown".
The portfolio comes from the stored account scorecards, i.e. what the CRM shows now, like the
segment counts and the account scatter: the dashboard's date range does not apply to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.ingest import write_outbox
from connector.scoring import nps_from_counts
from connector.scoring.revenue import RevenueEntry, RevenueView, revenue_view, without_signal
from connector.storage import Account, Scorecard, StoredRevenue
from connector.storage.bulk import upsert_insert

REVENUE_OUTBOX_REASON = "revenue"


class RevenueReading(Protocol):
    """One account's revenue as an adapter reads it (``connector.crm.types.AccountRevenue``)."""

    @property
    def amount(self) -> Decimal | None: ...
    @property
    def currency(self) -> str | None: ...
    @property
    def deals(self) -> int: ...
    @property
    def note(self) -> str | None: ...


def known_amount(amount: Decimal | None, deals: int) -> Decimal | None:
    """The account's revenue: 0 without a won deal, None when the CRM gave no one sum."""
    if amount is None and deals == 0:
        return Decimal(0)
    return amount


def _checked(account_id: int, reading: RevenueReading) -> dict[str, Any]:
    """The row to store, or ValueError naming the account and what is wrong with it."""
    problems = []
    if reading.deals < 0:
        problems.append(f"deals {reading.deals} is negative")
    if reading.amount is not None and not reading.amount.is_finite():
        problems.append(f"amount {reading.amount} is not a number")
    if reading.currency is not None and not (
        len(reading.currency) == 3 and reading.currency.isascii() and reading.currency.isupper()
    ):
        problems.append(f"currency {reading.currency!r} is not an ISO 4217 code")
    if problems:
        raise ValueError(f"revenue of account {account_id}: {'; '.join(problems)}")
    return {
        "account_id": account_id,
        "amount": reading.amount,
        "currency": reading.currency,
        "deals": reading.deals,
        "note": reading.note,
    }


def store_revenue(
    session: Session, readings: Mapping[int, RevenueReading], *, now: datetime
) -> list[int]:
    """Store the readings (account id -> reading) and put the accounts whose revenue changed
    into the outbox, in the caller's transaction; returns those account ids.

    Every reading is checked before anything is written: one bad reading stores nothing."""
    rows = [_checked(aid, readings[aid]) for aid in sorted(readings)]
    if not rows:
        return []
    before = {
        row.account_id: (row.amount, row.currency, row.deals)
        for row in session.execute(
            select(StoredRevenue.account_id, StoredRevenue.amount, StoredRevenue.currency,
                   StoredRevenue.deals).where(StoredRevenue.account_id.in_(sorted(readings)))
        )
    }  # fmt: skip
    changed = [
        r["account_id"]
        for r in rows
        if before.get(r["account_id"]) != (r["amount"], r["currency"], r["deals"])
    ]
    statement = upsert_insert(session, StoredRevenue)
    statement = statement.on_conflict_do_update(
        index_elements=["account_id"],
        set_={c: statement.excluded[c] for c in ("amount", "currency", "deals", "note", "read_at")},
    )
    session.execute(statement, [{**r, "read_at": now} for r in rows])
    write_outbox(session, [], changed, now=now, reason=REVENUE_OUTBOX_REASON)
    return changed


def revenue_reading(session: Session, account_id: int) -> StoredRevenue | None:
    return session.get(StoredRevenue, account_id)


def stored_revenue(
    session: Session, account_ids: Sequence[int]
) -> dict[int, tuple[Decimal | None, str | None]]:
    """Account id -> (revenue, currency) as stored, for the account scorecards."""
    if not account_ids:
        return {}
    rows = session.execute(
        select(StoredRevenue.account_id, StoredRevenue.amount, StoredRevenue.currency,
               StoredRevenue.deals).where(StoredRevenue.account_id.in_(sorted(account_ids)))
    )  # fmt: skip
    return {r.account_id: (known_amount(r.amount, r.deals), r.currency) for r in rows}


@dataclass(frozen=True)
class RevenueAccount:
    """One account of the revenue view: the core's entry plus what the pages show of it."""

    account_id: int
    name: str
    domain: str | None
    crm_id: str | None
    entry: RevenueEntry
    nps_responses: int


def _entry_nps(values: Mapping[str, Any]) -> float | None:
    """The account NPS unrounded, from the stored counts (the status uses the unrounded
    value; the stored ``nps.score`` has one decimal)."""
    n = values.get("nps.responses") or 0
    if not n:
        return None
    return nps_from_counts(values.get("nps.promoters") or 0, values.get("nps.detractors") or 0, n)


def revenue_accounts(session: Session, *, account_id: int | None = None) -> list[RevenueAccount]:
    """The accounts with a stored revenue reading, as the stored scorecards show them."""
    query = (
        select(Account.id, Account.name, Account.domain, Account.crm_id, Scorecard.values)
        .join(StoredRevenue, StoredRevenue.account_id == Account.id)
        .join(
            Scorecard,
            (Scorecard.subject_type == "account") & (Scorecard.subject_id == Account.id),
        )
        .order_by(Account.id)
    )
    if account_id is not None:
        query = query.where(Account.id == account_id)
    found: list[RevenueAccount] = []
    for row in session.execute(query):
        values: Mapping[str, Any] = row.values or {}
        amount = values.get("revenue.amount")
        entry = RevenueEntry(
            account=str(row.id),
            amount=Decimal(str(amount)) if amount is not None else None,
            currency=values.get("revenue.currency"),
            nps=_entry_nps(values),
        )
        name = row.name or row.domain or row.crm_id or f"#{row.id}"
        found.append(
            RevenueAccount(row.id, name, row.domain, row.crm_id, entry,
                           values.get("nps.responses") or 0)
        )  # fmt: skip
    return found


@dataclass(frozen=True)
class RevenueReport:
    """What the dashboard and ``GET /api/v1/stats/revenue`` show: the portfolio figures per
    currency, the accounts with revenue (the scatter) and the ``no_signal`` accounts, largest
    revenue first."""

    view: RevenueView
    accounts: list[RevenueAccount]
    without_signal: list[RevenueAccount]


def revenue_report(session: Session, *, account_id: int | None = None) -> RevenueReport:
    found = revenue_accounts(session, account_id=account_id)
    by_key = {a.entry.account: a for a in found}
    return RevenueReport(
        view=revenue_view(a.entry for a in found),
        accounts=[a for a in found if a.entry.has_revenue],
        without_signal=[by_key[e.account] for e in without_signal(a.entry for a in found)],
    )
