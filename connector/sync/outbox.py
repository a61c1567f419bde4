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

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connector.ingest import chunked
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
    """Lease up to ``limit`` due rows; returns the distinct subjects they name."""
    query = (
        select(OutboxItem.id, OutboxItem.subject_type, OutboxItem.subject_id, OutboxItem.attempts)
        .where(OutboxItem.processed_at.is_(None), OutboxItem.available_at <= now)
        .order_by(OutboxItem.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = session.execute(query).all()
    claim = Claim(rows=len(rows))
    contacts: set[int] = set()
    accounts: set[int] = set()
    for row in rows:
        (contacts if row.subject_type == "contact" else accounts).add(row.subject_id)
    for chunk in chunked([r.id for r in rows], 1000):
        session.execute(
            update(OutboxItem)
            .where(OutboxItem.id.in_(chunk))
            .values(available_at=now + lease, attempts=OutboxItem.attempts + 1)
        )
    claim.contact_ids = sorted(contacts)
    claim.account_ids = sorted(accounts)
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
) -> None:
    """Mark the subjects' rows written up to ``started_at`` processed (later ones stay)."""
    for subject_type, ids in (("contact", contact_ids), ("account", account_ids)):
        for chunk in _subject_rows(ids):
            session.execute(
                update(OutboxItem)
                .where(
                    OutboxItem.subject_type == subject_type,
                    OutboxItem.subject_id.in_(chunk),
                    OutboxItem.processed_at.is_(None),
                    OutboxItem.created_at <= started_at,
                )
                .values(processed_at=now)
            )


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
