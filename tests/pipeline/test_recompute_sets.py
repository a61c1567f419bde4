"""Recompute reads sets of rows, and the account pass only what the roll-up needs: the stored
scorecards must stay exactly what the scoring core gives for all of a subject's data."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connector.scorecards import (
    contact_key,
    recompute_accounts,
    recompute_contacts,
    record_written,
    stored_scorecard,
)
from connector.scoring import ScoringConfig, SurveyResponse, account_scorecard, contact_scorecard
from connector.storage import Account, Contact, Database, Response

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CONFIG = ScoringConfig(window_days=30)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def _moments(rng: random.Random) -> datetime:
    """Inside and outside the window, on its edges, in the future, and repeated (ties)."""
    start = NOW - timedelta(days=CONFIG.window_days)
    choices = [start, NOW, start - timedelta(seconds=1), NOW + timedelta(seconds=1),
               NOW - timedelta(days=3), NOW - timedelta(days=90)]  # fmt: skip
    if rng.random() < 0.5:
        return rng.choice(choices)
    return NOW - timedelta(minutes=rng.randrange(60 * 24 * 60))


def _store_random_data(db: Database, seed: int) -> dict[int, list[SurveyResponse]]:
    """Three accounts (one without contacts) and contacts with none to many responses."""
    rng = random.Random(seed)
    by_contact: dict[int, list[SurveyResponse]] = defaultdict(list)
    with db.session() as session:
        accounts = [Account(domain=f"a{i}-{seed}.example") for i in range(3)]
        session.add_all(accounts)
        session.flush()
        for number in range(24):
            contact = Contact(email=f"p{number}-{seed}@example.com",
                              account_id=accounts[number % 2].id)  # fmt: skip
            session.add(contact)
            session.flush()
            received = NOW - timedelta(days=1)
            for item in range(rng.randrange(6)):
                kind = "nps" if rng.random() < 0.7 else "csat"
                score = rng.randint(0, 10) if kind == "nps" else rng.randint(1, 5)
                answered, comment = _moments(rng), rng.choice([None, "x"])
                session.add(Response(source="t", external_id=f"{seed}-{number}-{item}",
                                     kind=kind, score=score, contact_id=contact.id,
                                     answered_at=answered, received_at=received,
                                     comment=comment))  # fmt: skip
                by_contact[contact.id].append(
                    SurveyResponse(kind=kind, score=score, answered_at=answered,
                                   received_at=received, comment=comment,
                                   contact=contact_key(contact.id))
                )  # fmt: skip
    return by_contact


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_given_responses_around_the_window_when_accounts_recomputed_then_core_result_on_all(
    db: Database, seed: int
):
    by_contact = _store_random_data(db, seed)
    with db.session() as session:
        members: dict[int, list[int]] = defaultdict(list)
        for contact in session.query(Contact):
            members[contact.account_id or 0].append(contact.id)
        account_ids = [a.id for a in session.query(Account)]
        cards = recompute_accounts(session, account_ids, now=NOW, config=CONFIG)

    for account_id in account_ids:
        expected = account_scorecard(
            {contact_key(c): by_contact.get(c, []) for c in members.get(account_id, [])},
            [],
            now=NOW,
            config=CONFIG,
        )
        assert cards[account_id] == expected


def test_given_contacts_when_recomputed_then_each_card_is_the_core_result(db: Database):
    by_contact = _store_random_data(db, 7)
    with db.session() as session:
        ids = [c.id for c in session.query(Contact)]
        cards = recompute_contacts(session, ids, now=NOW, config=CONFIG)
    for contact_id in ids:
        expected = contact_scorecard(by_contact.get(contact_id, []), [], now=NOW, config=CONFIG)
        assert cards[contact_id] == expected


def test_given_written_values_when_recorded_then_only_those_cards_change(db: Database):
    _store_random_data(db, 9)
    with db.session() as session:
        ids = sorted(c.id for c in session.query(Contact))
        recompute_contacts(session, ids, now=NOW, config=CONFIG)
        first, second = (stored_scorecard(session, "contact", i) for i in ids[:2])
        assert first is not None and second is not None
        record_written(session, [{"id": first.id, "written": {"f": 1}, "written_at": NOW}])
    with db.session() as session:
        first, second = (stored_scorecard(session, "contact", i) for i in ids[:2])
        assert first is not None and second is not None
        assert (first.written, first.written_at) == ({"f": 1}, NOW)
        assert (second.written, second.written_at) == (None, None)
