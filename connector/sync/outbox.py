"""The outbox: rows written with the data that say which subjects changed.

A relay claims pending rows by leasing them (``available_at`` moves into the future) and
enqueues push work; a push that finishes marks the rows processed. A push that is lost (worker
killed, broker restarted) leaves its rows pending, and the relay claims them again once the
lease runs out: the database, not the broker, is what makes delivery certain. A push that fails
for good (a fatal CRM error) backs its rows off exponentially instead of retrying hot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from connector.batching import chunked
from connector.storage import OutboxItem

MAX_BACKOFF = timedelta(hours=1)


@dataclass
class Claim:
    contact_ids: list[int] = field(default_factory=list)
    account_ids: list[int] = field(default_factory=list)
    rows: int = 0

    def __bool__(self) -> bool:
        return self.rows > 0


def claim_pending(
    session: Session, *, now: datetime, lease: timedelta, limit: int = 20000
) -> Claim:
    """Lease up to ``limit`` due rows; returns the distinct subjects they name.

    One statement: the rows are picked, leased and returned together (selecting 20,000 rows
    and then updating them by id in chunks took a second of the relay's time per claim).
    """
    due = (
        select(OutboxItem.id)
        .where(OutboxItem.processed_at.is_(None), OutboxItem.available_at <= now)
        .order_by(OutboxItem.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    rows = session.execute(
        update(OutboxItem)
        .where(OutboxItem.id.in_(due.scalar_subquery()))
        .values(available_at=now + lease, attempts=OutboxItem.attempts + 1)
        .returning(OutboxItem.subject_type, OutboxItem.subject_id),
        execution_options={"synchronize_session": False},
    ).all()
    claim = Claim(rows=len(rows))
    claim.contact_ids = sorted({r.subject_id for r in rows if r.subject_type == "contact"})
    claim.account_ids = sorted({r.subject_id for r in rows if r.subject_type == "account"})
    return claim


def _subject_rows(ids: Iterable[int]) -> list[list[int]]:
    return [list(chunk) for chunk in chunked(sorted(set(ids)), 500)]


def complete(
    session: Session,
    *,
    contact_ids: Iterable[int],
    account_ids: Iterable[int],
    started_at: datetime,
    now: datetime,
) -> list[datetime]:
    """Mark the subjects' rows written up to ``started_at`` processed (later ones stay), and
    return when each of them arrived (the push lag is measured from there).

    Nothing indexes the outbox by subject, so each statement scans the pending rows: one
    statement per subject type, with the ids written into it as constants (PostgreSQL hashes a
    constant list, but searches a bound one item by item), keeps that to one scan per push.
    """
    arrived: list[datetime] = []
    for subject_type, ids in (("contact", contact_ids), ("account", account_ids)):
        wanted = sorted(set(ids))
        if not wanted:
            continue
        arrived += session.scalars(
            update(OutboxItem)
            .where(
                OutboxItem.subject_type == subject_type,
                OutboxItem.subject_id.in_(bindparam("subjects", wanted, literal_execute=True)),
                OutboxItem.processed_at.is_(None),
                OutboxItem.created_at <= started_at,
            )
            .values(processed_at=now)
            .returning(OutboxItem.created_at),
            execution_options={"synchronize_session": False},
        )
    return arrived


def back_off(
    session: Session,
    *,
    contact_ids: Iterable[int],
    account_ids: Iterable[int],
    now: datetime,
    base: timedelta,
) -> None:
    """Push the subjects' pending rows later, doubling with each attempt (up to an hour)."""
    for subject_type, ids in (("contact", contact_ids), ("account", account_ids)):
        for chunk in _subject_rows(ids):
            rows = session.execute(
                select(OutboxItem.id, OutboxItem.attempts).where(
                    OutboxItem.subject_type == subject_type,
                    OutboxItem.subject_id.in_(chunk),
                    OutboxItem.processed_at.is_(None),
                )
            ).all()
            for row in rows:
                delay = min(base * (2 ** min(row.attempts, 12)), MAX_BACKOFF)
                session.execute(
                    update(OutboxItem)
                    .where(OutboxItem.id == row.id)
                    .values(available_at=now + delay)
                )


def pending_count(session: Session) -> int:
    from sqlalchemy import func

    return int(
        session.scalar(
            select(func.count()).select_from(OutboxItem).where(OutboxItem.processed_at.is_(None))
        )
        or 0
    )
