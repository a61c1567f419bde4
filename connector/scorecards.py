"""Recomputing stored scorecards from stored data (the scoring core does the arithmetic).

This is the one place that turns database rows into the scoring core's plain values and
stores what it returns. Contacts are keyed ``c<id>`` and accounts ``a<id>`` for the core.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from connector.ingest import chunked
from connector.scoring import (
    EmployeeRating as RatingValue,
)
from connector.scoring import (
    ScoringConfig,
    SurveyResponse,
    account_scorecard,
    contact_scorecard,
)
from connector.storage import Contact, EmployeeRating, Response, Scorecard
from connector.storage.upsert import upsert_statement


def contact_key(contact_id: int) -> str:
    return f"c{contact_id}"


def account_key(account_id: int) -> str:
    return f"a{account_id}"


_RESPONSE_COLUMNS = (
    Response.contact_id, Response.kind, Response.score, Response.answered_at,
    Response.received_at, Response.comment, Response.touchpoint,
)  # fmt: skip
_RATING_COLUMNS = (
    EmployeeRating.contact_id, EmployeeRating.account_id, EmployeeRating.employee,
    EmployeeRating.relationship, EmployeeRating.potential, EmployeeRating.rated_at,
    EmployeeRating.received_at, EmployeeRating.comment,
)  # fmt: skip


def _response_value(row: Any) -> SurveyResponse:
    """A response row (the columns above) as the scoring core's value."""
    return SurveyResponse(
        kind=row.kind,
        score=row.score,
        answered_at=row.answered_at,
        received_at=row.received_at,
        comment=row.comment,
        contact=contact_key(row.contact_id),
        touchpoint=row.touchpoint,
    )


def _rating_value(row: Any) -> RatingValue:
    subject = contact_key(row.contact_id) if row.contact_id else account_key(row.account_id or 0)
    return RatingValue(
        employee=row.employee,
        subject=subject,
        relationship=row.relationship,
        potential=row.potential,
        rated_at=row.rated_at,
        received_at=row.received_at,
        comment=row.comment,
    )


def _responses_by_contact(session: Session, contact_ids: list[int]) -> dict[int, list[Any]]:
    found: dict[int, list[SurveyResponse]] = defaultdict(list)
    for chunk in chunked(contact_ids):
        for row in session.execute(
            select(*_RESPONSE_COLUMNS).where(Response.contact_id.in_(chunk))
        ):
            found[row.contact_id].append(_response_value(row))
    return found


def _ratings_of(session: Session, contact_ids: list[int], account_ids: list[int]) -> list[Any]:
    rows: list[Any] = []
    for chunk in chunked(contact_ids):
        rows.extend(session.execute(select(*_RATING_COLUMNS).where(
            EmployeeRating.contact_id.in_(chunk))))  # fmt: skip
    for chunk in chunked(account_ids):
        rows.extend(session.execute(select(*_RATING_COLUMNS).where(
            EmployeeRating.account_id.in_(chunk))))  # fmt: skip
    return rows


def _store(
    session: Session, subject_type: str, values: Mapping[int, dict[str, Any]], now: datetime
) -> None:
    rows = [
        {"subject_type": subject_type, "subject_id": sid, "values": card, "computed_at": now}
        for sid, card in sorted(values.items())
    ]
    statement = upsert_statement(
        session, Scorecard, ("subject_type", "subject_id"), ("values", "computed_at")
    )
    for chunk in chunked(rows, 1000):
        session.execute(statement, list(chunk))


def recompute_contacts(
    session: Session, contact_ids: Iterable[int], *, now: datetime, config: ScoringConfig
) -> dict[int, dict[str, Any]]:
    ids = sorted(set(contact_ids))
    responses = _responses_by_contact(session, ids)
    ratings: dict[int, list[RatingValue]] = defaultdict(list)
    for row in _ratings_of(session, ids, []):
        ratings[row.contact_id or 0].append(_rating_value(row))
    cards = {
        cid: contact_scorecard(responses.get(cid, []), ratings.get(cid, []), now=now, config=config)
        for cid in ids
    }
    _store(session, "contact", cards, now)
    return cards


def recompute_accounts(
    session: Session, account_ids: Iterable[int], *, now: datetime, config: ScoringConfig
) -> dict[int, dict[str, Any]]:
    ids = sorted(set(account_ids))
    members: dict[int, list[int]] = defaultdict(list)
    for chunk in chunked(ids):
        for cid, aid in session.execute(
            select(Contact.id, Contact.account_id).where(Contact.account_id.in_(chunk))
        ):
            if aid is not None:
                members[aid].append(cid)
    all_contacts = sorted(c for cs in members.values() for c in cs)
    responses = _responses_by_contact(session, all_contacts)
    account_of = {cid: aid for aid, cs in members.items() for cid in cs}
    ratings: dict[int, list[RatingValue]] = defaultdict(list)
    for row in _ratings_of(session, all_contacts, ids):
        owner = account_of.get(row.contact_id or -1) if row.contact_id else row.account_id
        if owner is not None:
            ratings[owner].append(_rating_value(row))
    cards = {
        aid: account_scorecard(
            {contact_key(c): responses.get(c, []) for c in members.get(aid, [])},
            ratings.get(aid, []),
            now=now,
            config=config,
        )
        for aid in ids
    }
    _store(session, "account", cards, now)
    return cards


def recompute_scorecards(
    session: Session,
    contact_ids: Iterable[int],
    account_ids: Iterable[int],
    *,
    now: datetime,
    config: ScoringConfig,
) -> None:
    """Recompute and store the scorecards of these contacts and accounts."""
    recompute_contacts(session, contact_ids, now=now, config=config)
    recompute_accounts(session, account_ids, now=now, config=config)


def stored_scorecard(session: Session, subject_type: str, subject_id: int) -> Scorecard | None:
    return session.scalar(
        select(Scorecard).where(
            Scorecard.subject_type == subject_type, Scorecard.subject_id == subject_id
        )
    )


def responses_in_range(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    kind: str = "nps",
    account_id: int | None = None,
    touchpoint: str | None = None,
) -> list[SurveyResponse]:
    """Responses of one kind answered in [start, end], optionally of one account/touchpoint."""
    query = select(*_RESPONSE_COLUMNS).where(
        Response.kind == kind, Response.answered_at >= start, Response.answered_at <= end
    )
    if account_id is not None:
        members = select(Contact.id).where(Contact.account_id == account_id)
        query = query.where(
            or_(Response.account_id == account_id, Response.contact_id.in_(members))
        )
    if touchpoint:
        query = query.where(Response.touchpoint == touchpoint)
    return [_response_value(row) for row in session.execute(query)]
