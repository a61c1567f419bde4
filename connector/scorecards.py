"""Recomputing stored scorecards from stored data (the scoring core does the arithmetic).

This is the one place that turns database rows into the scoring core's plain values and
stores what it returns. Contacts are keyed ``c<id>`` and accounts ``a<id>`` for the core.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import bindparam, or_, select, text, update
from sqlalchemy.orm import Session

from connector.revenue import stored_revenue
from connector.scoring import (
    EmployeeRating as RatingValue,
)
from connector.scoring import (
    NpsBucket,
    NpsSummary,
    ScoringConfig,
    SurveyResponse,
    account_scorecard,
    bucket_start,
    contact_scorecard,
    nps_series,
    population_nps,
)
from connector.scoring.model import as_utc
from connector.scoring.nps import in_window, window_start
from connector.storage import Contact, EmployeeRating, Response, Scorecard
from connector.storage.bulk import dialect_of, in_keys, insert_rows, key_values
from connector.storage.upsert import table_of


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


def _response_value(row: Any, *, text: bool = True) -> SurveyResponse:
    """A response row (the columns above) as the scoring core's value; ``text=False`` for a
    row read without its comment and touchpoint."""
    return SurveyResponse(
        kind=row.kind,
        score=row.score,
        answered_at=row.answered_at,
        received_at=row.received_at,
        comment=row.comment if text else None,
        contact=contact_key(row.contact_id),
        touchpoint=row.touchpoint if text else None,
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


def rows_where_in(session: Session, columns: Sequence[Any], key: Any, ids: Sequence[int],
                  *conditions: Any) -> Iterable[Any]:  # fmt: skip
    """``SELECT columns WHERE key IN ids AND conditions`` as one statement for any number of
    ids (the ids are one parameter: ``connector.storage.bulk``), not one per 500 ids. The
    semi-join it makes probes ``key``'s index also in plans made before the table had
    statistics (an ``IN`` list of 500 then filtered every row of a growing table)."""
    dialect = dialect_of(session)
    statement = select(*columns).where(in_keys(dialect, key, "ids"), *conditions)
    return session.execute(statement, {"ids": key_values(dialect, ids)})


def _responses_by_contact(session: Session, contact_ids: list[int]) -> dict[int, list[Any]]:
    found: dict[int, list[SurveyResponse]] = defaultdict(list)
    for row in rows_where_in(session, _RESPONSE_COLUMNS, Response.contact_id, contact_ids):
        found[row.contact_id].append(_response_value(row))
    return found


def _account_responses(
    session: Session, contact_ids: list[int], *, now: datetime, config: ScoringConfig
) -> dict[int, list[SurveyResponse]]:
    """What an account's roll-up reads of its contacts' responses: each contact's latest NPS
    answer in the window (the core takes only its score) or, with none there, one NPS answer
    (the account then "has NPS data"), and every CSAT answer. Comments are not read.

    The contact pass reads everything of each contact; reading all of it again here made the
    account pass as slow as the contact pass. The roll-up itself stays in the scoring core.
    """
    now = as_utc(now)
    start = window_start(now, config)
    newest: dict[int, tuple[tuple[Any, ...], Any]] = {}
    found: dict[int, list[SurveyResponse]] = defaultdict(list)
    columns = (Response.contact_id, Response.kind, Response.score, Response.answered_at,
               Response.received_at)  # fmt: skip
    for row in rows_where_in(session, columns, Response.contact_id, contact_ids):
        if row.kind == "nps":
            key = (in_window(as_utc(row.answered_at), start=start, now=now),
                   row.answered_at, row.received_at, row.score)  # fmt: skip
            current = newest.get(row.contact_id)
            if current is None or key > current[0]:
                newest[row.contact_id] = (key, row)
        else:
            found[row.contact_id].append(_response_value(row, text=False))
    for contact_id, (_, row) in newest.items():
        found[contact_id].append(_response_value(row, text=False))
    return found


def _ratings_of(session: Session, contact_ids: list[int], account_ids: list[int]) -> list[Any]:
    rows: list[Any] = []
    if contact_ids:
        rows.extend(rows_where_in(session, _RATING_COLUMNS, EmployeeRating.contact_id,
                                   contact_ids))  # fmt: skip
    if account_ids:
        rows.extend(rows_where_in(session, _RATING_COLUMNS, EmployeeRating.account_id,
                                   account_ids))  # fmt: skip
    return rows


def _store(
    session: Session, subject_type: str, values: Mapping[int, dict[str, Any]], now: datetime
) -> None:
    """Upsert the scorecards as one statement per batch (``connector.storage.bulk``), not one
    statement per scorecard."""
    # The bulk insert hands values to the driver as they are: PostgreSQL takes the JSON
    # documents inside its one JSON parameter, SQLite takes text.
    as_json = (lambda card: card) if dialect_of(session) == "postgresql" else json.dumps
    rows = [
        {"subject_type": subject_type, "subject_id": sid, "values": as_json(card),
         "computed_at": now}
        for sid, card in sorted(values.items())
    ]  # fmt: skip
    insert_rows(session, table_of(Scorecard), rows, conflict=("subject_type", "subject_id"),
                update=("values", "computed_at"))  # fmt: skip


# PostgreSQL: the batch as one JSON parameter, joined by id (one statement, one plan).
_RECORD_WRITTEN_PG = text(
    "UPDATE scorecards SET written = r.written, written_at = r.written_at"
    " FROM json_to_recordset(CAST(:rows AS json)) AS r(id integer, written json,"
    " written_at timestamptz) WHERE scorecards.id = r.id"
)


def record_written(session: Session, rows: list[dict[str, Any]]) -> None:
    """Store what was written to the CRM (``id``, ``written``, ``written_at`` per scorecard) in
    one statement: a batch's worth, without loading and flushing ORM objects."""
    if not rows:
        return
    if dialect_of(session) == "postgresql":
        document = [{**r, "written_at": r["written_at"].isoformat()} for r in rows]
        session.execute(_RECORD_WRITTEN_PG, {"rows": json.dumps(document)})
        return
    table = table_of(Scorecard)
    session.execute(
        update(table)
        .where(table.c.id == bindparam("card_id"))
        .values(written=bindparam("card_written"), written_at=bindparam("card_written_at")),
        [{"card_id": r["id"], "card_written": r["written"], "card_written_at": r["written_at"]}
         for r in rows],
    )  # fmt: skip


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
    revenue = stored_revenue(session, ids)
    members: dict[int, list[int]] = defaultdict(list)
    for cid, aid in rows_where_in(session, (Contact.id, Contact.account_id), Contact.account_id,
                                   ids):  # fmt: skip
        if aid is not None:
            members[aid].append(cid)
    all_contacts = sorted(c for cs in members.values() for c in cs)
    responses = _account_responses(session, all_contacts, now=now, config=config)
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
            revenue_amount=revenue.get(aid, (None, None))[0],
            revenue_currency=revenue.get(aid, (None, None))[1],
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


@dataclass(frozen=True)
class NpsOverRange:
    window: NpsSummary
    buckets: list[NpsBucket]


def nps_over_range(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    interval: str = "week",
    account_id: int | None = None,
    touchpoint: str | None = None,
    end_counts: bool = False,
    zone: tzinfo = UTC,
) -> NpsOverRange:
    """The NPS of ``[start, end)`` and per bucket: the one definition the dashboard, the weekly
    summary and ``GET /api/v1/stats/nps`` show.

    Buckets are whole calendar periods of ``zone``, the business's time zone (weeks from
    Monday): a week has one value whatever
    range shows it, so a range starting mid-week has a first bucket that counts its whole week
    (also before ``start``) and is labelled with its Monday. The window counts ``[start, end)``
    only, or ``[start, end]`` with ``end_counts`` (the API's ``to`` is an instant that counts).
    """
    loaded = responses_in_range(
        session, start=bucket_start(start, interval, zone), end=end, account_id=account_id,
        touchpoint=touchpoint,
    )  # fmt: skip
    responses = [r for r in loaded if r.answered_at < end or (end_counts and r.answered_at == end)]
    in_range = [r for r in responses if r.answered_at >= start]
    last_instant = end if end_counts else end - timedelta(microseconds=1)
    return NpsOverRange(
        window=population_nps(in_range, now=last_instant, start=start),
        buckets=nps_series(responses, start=start, end=end, interval=interval, zone=zone),
    )
