"""Stored revenue (issue #22) on both backends: exact amounts, the outbox for changed accounts
only, bad readings refused whole, and the account scorecard's revenue metrics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from connector.ingest import store_responses
from connector.revenue import revenue_accounts, store_revenue, stored_revenue
from connector.scorecards import recompute_accounts
from connector.scoring import ScoringConfig
from connector.storage import Account, Database, OutboxItem, StoredRevenue
from tests.revenue_readings import Reading

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def accounts(db: Database, *domains: str) -> list[int]:
    with db.session() as session:
        made = [Account(domain=d, name=d.split(".")[0].title()) for d in domains]
        session.add_all(made)
        session.flush()
        return [a.id for a in made]


def revenue_outbox(db: Database) -> list[int]:
    with db.session() as session:
        rows = session.scalars(select(OutboxItem).where(OutboxItem.reason == "revenue"))
        return sorted(o.subject_id for o in rows)


def test_given_readings_when_stored_again_then_only_changed_accounts_are_queued(db: Database):
    a, b = accounts(db, "acme.example", "globex.example")
    with db.session() as session:
        first = store_revenue(session, {a: Reading(Decimal("1234567.89"), "EUR", 3),
                                        b: Reading(None, None, 2, "mixed currencies")},
                              now=NOW)  # fmt: skip
    assert first == [a, b] and revenue_outbox(db) == [a, b]
    with db.session() as session:
        again = store_revenue(session, {a: Reading(Decimal("1234567.89"), "EUR", 3),
                                        b: Reading(Decimal("10"), "EUR", 2)},
                              now=NOW + timedelta(days=1))  # fmt: skip
    assert again == [b]
    assert revenue_outbox(db) == [a, b, b]
    with db.session() as session:
        stored = {r.account_id: r for r in session.scalars(select(StoredRevenue))}
        assert stored[a].amount == Decimal("1234567.89")  # exact, also on SQLite
        assert stored[a].read_at == NOW + timedelta(days=1)
        assert stored[b].note is None
        assert stored_revenue(session, [a, b]) == {a: (Decimal("1234567.89"), "EUR"),
                                                    b: (Decimal("10"), "EUR")}  # fmt: skip


def test_given_no_won_deal_when_read_back_then_revenue_is_zero_not_unknown(db: Database):
    (a,) = accounts(db, "acme.example")
    with db.session() as session:
        store_revenue(session, {a: Reading(None, "EUR", 0)}, now=NOW)
        assert stored_revenue(session, [a]) == {a: (Decimal(0), "EUR")}


@pytest.mark.parametrize(
    ("reading", "problem"),
    [
        (Reading(Decimal(1), "euro", 1), "currency 'euro' is not an ISO 4217 code"),
        (Reading(Decimal(1), "EUR", -1), "deals -1 is negative"),
        (Reading(Decimal("Infinity"), "EUR", 1), "amount Infinity is not a number"),
    ],
)
def test_given_one_bad_reading_when_storing_then_error_names_it_and_nothing_is_stored(
    db: Database, reading: Reading, problem: str
):
    good, bad = accounts(db, "acme.example", "globex.example")
    with pytest.raises(ValueError, match=f"account {bad}: {problem}"), db.session() as session:
        store_revenue(session, {good: Reading(Decimal(5), "EUR", 1), bad: reading}, now=NOW)
    with db.session() as session:
        assert session.scalars(select(StoredRevenue)).all() == []
    assert revenue_outbox(db) == []


def test_given_stored_revenue_when_recomputing_then_scorecard_and_view_carry_it(db: Database):
    with db.session() as session:
        store_responses(session, [
            {"kind": "nps", "score": s, "email": f"p{i}@acme.example", "source": "t",
             "external_id": f"r{i}", "answered_at": NOW - timedelta(days=3),
             "account_domain": "acme.example"}
            for i, s in enumerate([0, 0, 9])
        ], now=NOW)  # fmt: skip
        acme = session.scalars(select(Account).where(Account.domain == "acme.example")).one()
        acme_id = acme.id
    (quiet,) = accounts(db, "quiet.example")
    with db.session() as session:
        store_revenue(session, {acme_id: Reading(Decimal("600.50"), "EUR", 2),
                                quiet: Reading(Decimal("400"), "EUR", 1)}, now=NOW)  # fmt: skip
        cards = recompute_accounts(session, [acme_id, quiet], now=NOW, config=ScoringConfig())
    assert cards[acme_id]["revenue.amount"] == 600.5
    assert cards[acme_id]["revenue.status"] == "at_risk"  # NPS -33.3
    assert cards[quiet]["revenue.status"] == "no_signal"
    with db.session() as session:
        view = {a.account_id: a for a in revenue_accounts(session)}
    assert view[acme_id].entry.nps == pytest.approx(-100 / 3)
    assert view[quiet].entry.nps is None and view[quiet].name == "Quiet"
