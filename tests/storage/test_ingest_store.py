"""connector.ingest on both backends: idempotency, resolution, outbox, and the set-based paths
(rows as one JSON parameter on PostgreSQL, driver-level multi-row VALUES on SQLite)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

import connector.ingest as ingest_module
from connector.ingest import commit_with_retry, store_ratings, store_responses
from connector.storage import Account, Contact, Database, EmployeeRating, OutboxItem, Response
from connector.storage.bulk import dialect_of, find_rows, find_statement, insert_rows, key_values
from connector.storage.upsert import table_of
from tests.conftest import truncate_all

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def response(external_id: str | None, score: int = 9, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"kind": "nps", "score": score, "email": "ann@acme.example",
                            "source": "test", "external_id": external_id,
                            "answered_at": NOW - timedelta(days=1)}  # fmt: skip
    item.update(extra)
    return item


def outbox(db: Database) -> set[tuple[str, int]]:
    with db.session() as session:
        return {(o.subject_type, o.subject_id) for o in session.scalars(select(OutboxItem))}


def test_given_resends_when_stored_then_identical_is_unchanged_and_changed_is_updated(
    db: Database,
):
    with db.session() as session:
        first = store_responses(session, [response("r1")], now=NOW)
    with db.session() as session:
        same = store_responses(session, [response("r1")], now=NOW + timedelta(minutes=1))
    with db.session() as session:
        changed = store_responses(session, [response("r1", score=3)], now=NOW)
    assert (first.created, same.unchanged, changed.updated) == (1, 1, 1)
    assert first.ids == same.ids == changed.ids
    with db.session() as session:
        assert session.scalars(select(Response.score)).all() == [3]


def test_given_batch_with_resend_of_its_own_item_when_stored_then_last_wins_once(db: Database):
    with db.session() as session:
        result = store_responses(session, [response("r1", 2), response("r2"),
                                           response("r1", 7)], now=NOW)  # fmt: skip
    assert (result.created, result.updated, result.unchanged) == (2, 0, 0)
    assert result.ids[0] == result.ids[2] != result.ids[1]
    with db.session() as session:
        assert session.scalar(select(Response.score).where(Response.external_id == "r1")) == 7


def test_given_updated_item_moved_to_other_person_when_stored_then_both_in_outbox(db: Database):
    with db.session() as session:
        store_responses(session, [response("r1", account_domain="old.example")], now=NOW)
    with db.session() as session:
        session.execute(OutboxItem.__table__.delete())
    with db.session() as session:
        moved = response("r1", email="bo@new.example", account_domain="new.example")
        store_responses(session, [moved], now=NOW)
    with db.session() as session:
        contacts = {c.email: c for c in session.scalars(select(Contact))}
        accounts = {a.domain: a.id for a in session.scalars(select(Account))}
    assert outbox(db) == {
        ("contact", contacts["ann@acme.example"].id), ("contact", contacts["bo@new.example"].id),
        ("account", accounts["old.example"]), ("account", accounts["new.example"]),
    }  # fmt: skip


def test_given_person_named_by_email_then_by_email_and_crm_id_when_stored_then_one_contact(
    db: Database,
):
    with db.session() as session:
        result = store_responses(
            session, [response("r1"), response("r2", crm_id="C-1"), response("r3", crm_id="C-1")],
            now=NOW,
        )  # fmt: skip
    with db.session() as session:
        contacts = session.scalars(select(Contact)).all()
    assert [(c.email, c.crm_id) for c in contacts] == [("ann@acme.example", "C-1")]
    assert result.contact_ids == {contacts[0].id}


def test_given_items_naming_accounts_when_stored_then_contact_follows_the_latest(db: Database):
    with db.session() as session:
        store_responses(session, [response("r1", account_domain="first.example")], now=NOW)
    with db.session() as session:  # moves away and back within one batch: stays
        away_and_back = [response("r2", account_domain="second.example"),
                         response("r3", account_domain="first.example")]  # fmt: skip
        store_responses(session, away_and_back, now=NOW)
    with db.session() as session:
        back = session.scalar(
            select(Account.domain).join(Contact, Contact.account_id == Account.id)
        )
        assert back == "first.example"
        store_responses(session, [response("r4", account_domain="second.example"),
                                  response("r5")], now=NOW)  # fmt: skip
    with db.session() as session:
        accounts = {a.id: a.domain for a in session.scalars(select(Account))}
        history = [
            accounts[aid]
            for aid in session.scalars(select(Response.account_id).order_by(Response.id))
            if aid
        ]
        contact = session.scalars(select(Contact)).one()
    assert history == ["first.example", "second.example", "first.example", "second.example"]
    assert accounts[contact.account_id] == "second.example"


def test_given_account_gaining_crm_id_when_stored_then_same_account(db: Database):
    with db.session() as session:
        store_responses(session, [response("r1", account_domain="acme.example")], now=NOW)
    with db.session() as session:
        store_responses(session, [response("r2", account_domain="acme.example",
                                           account_crm_id="A-1")], now=NOW)  # fmt: skip
    with db.session() as session:
        accounts = session.scalars(select(Account)).all()
    assert [(a.domain, a.crm_id) for a in accounts] == [("acme.example", "A-1")]


def test_given_account_only_rating_when_stored_then_rates_account_and_outbox_names_it(
    db: Database,
):
    rating = {"employee": "eve@us.example", "account_domain": "acme.example", "relationship": 4,
              "potential": 3, "source": "test", "external_id": "e1"}  # fmt: skip
    with db.session() as session:
        result = store_ratings(session, [rating], now=NOW)
    with db.session() as session:
        stored = session.scalars(select(EmployeeRating)).one()
        account_id = session.scalars(select(Account.id)).one()
        assert session.scalar(select(Contact.id)) is None
    assert (stored.contact_id, stored.account_id, stored.rated_at) == (None, account_id, NOW)
    assert result.contact_ids == set() and outbox(db) == {("account", account_id)}


def test_given_large_batch_without_keys_when_stored_then_each_id_is_its_own_row(db: Database):
    # more rows than one SQLite statement may bind, and several people per batch
    items = [response(None, score=n % 11, email=f"p{n % 700}@acme.example",
                      answered_at=NOW - timedelta(minutes=n)) for n in range(6000)]  # fmt: skip
    with db.session() as session:
        result = store_responses(session, items, now=NOW)
    assert result.created == 6000 and len(set(result.ids)) == 6000
    with db.session() as session:
        stored = {r.id: (r.score, r.answered_at) for r in session.scalars(select(Response))}
        assert session.scalar(select(Contact.id).order_by(Contact.id.desc()).limit(1)) == 700
    assert [stored[i] for i in result.ids] == [(i["score"], i["answered_at"]) for i in items]


def test_given_naive_datetime_when_stored_then_refused(db: Database):
    with pytest.raises(ValueError, match="naive"), db.session() as session:
        store_responses(session, [response("r1", answered_at=datetime(2026, 1, 1))], now=NOW)
    with db.session() as session:
        assert session.scalar(select(Response.id)) is None


def test_given_empty_keys_and_rows_when_used_then_nothing_found_nor_sent(db: Database):
    with db.session() as session:
        store_responses(session, [response("r1")], now=NOW)
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with db.session() as session:
        contacts = table_of(Contact)
        assert find_rows(session, contacts, ("id",), {"email": [], "crm_id": set()}) is None
        assert find_rows(session, contacts, ("id",), {"email": ["nobody@acme.example"]}) == []
        dialect = dialect_of(session)  # an empty array or JSON list bound as such finds nothing
        statement = find_statement(dialect, contacts, ("id",), ("email",))
        assert session.execute(statement, {"email": key_values(dialect, [])}).all() == []
        assert insert_rows(session, table_of(Contact), [], returning=("id",)) == []
        assert store_responses(session, [], now=NOW).as_dict() == {
            "created": 0, "updated": 0, "unchanged": 0, "ids": []}  # fmt: skip
    assert len(statements) == 2  # the two lookups; nothing for no keys nor no rows


def test_given_known_person_when_one_item_stored_then_few_statements(db: Database):
    with db.session() as session:
        store_responses(session, [response("r1", account_domain="acme.example")], now=NOW)
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with db.session() as session:
        store_responses(session, [response("r2", account_domain="acme.example")], now=NOW)
    # SQLite: account, contact, existing item, upsert, outbox; PostgreSQL: one function call
    # (connector.storage.procedures), whose equivalence tests/storage has
    expected = 1 if dialect_of_url(db) == "postgresql" else 5
    assert len(statements) == expected, statements


def test_given_two_known_people_when_batch_stored_then_five_statements(db: Database):
    with db.session() as session:
        store_responses(session, [response("r1", account_domain="acme.example"),
                                  response("r2", email="bob@acme.example")], now=NOW)  # fmt: skip
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with db.session() as session:
        store_responses(session, [response("r3", account_domain="acme.example"),
                                  response("r4", email="bob@acme.example")], now=NOW)  # fmt: skip
    # account, contact, existing items, upsert, outbox: the set-based path on both backends
    assert len(statements) == 5, statements


def _store_mine(db: Database) -> Any:
    """Store our item as the API does, retrying after a unique-key race."""
    with db.sessions() as session:
        return commit_with_retry(
            session, lambda now: store_responses(session, [response("mine")], now=now)
        )


def dialect_of_url(db: Database) -> str:
    return db.engine.dialect.name


@pytest.mark.postgres
@pytest.mark.parametrize("path", ["session", "committed"])
def test_given_other_writer_creating_same_contact_when_function_inserts_then_retry_finds_it(
    postgres_url: str, path: str
):
    truncate_all(postgres_url)
    db, other = Database(postgres_url), Database(postgres_url)
    theirs = other.sessions()
    raced: list[bool] = []

    def other_writer_in_flight(*args: Any) -> None:
        # Their contact is inserted but not committed when our function looks: our insert
        # waits on the unique index, fails once they commit, and the retry finds theirs.
        if "cx360_store_response" in args[2] and not raced:
            raced.append(True)
            store_responses(theirs, [response("theirs"), response("theirs-2")], now=NOW)
            threading.Timer(0.5, theirs.commit).start()

    if path == "session":
        event.listen(db.engine, "before_cursor_execute", other_writer_in_flight)
        result = _store_mine(db)
    else:  # the API's one-item path: autocommit on a driver connection, past Core's events
        committed = db.scalar_committed

        def scalar_committed(statement: str, params: Any) -> Any:
            other_writer_in_flight(None, None, statement)
            return committed(statement, params)

        db.scalar_committed = scalar_committed  # type: ignore[method-assign]
        result = ingest_module.store_committed(db, "response", response("mine"))
    theirs.close()
    with db.session() as check:
        assert len(check.scalars(select(Contact)).all()) == 1
        assert len(check.scalars(select(Response)).all()) == 3
    db.dispose()
    other.dispose()
    assert raced and result.created == 1


def test_given_other_writer_creating_same_contact_when_inserting_then_retry_finds_it(
    db: Database, monkeypatch: pytest.MonkeyPatch
):
    # the set-based path (one item on PostgreSQL takes the function: the next test)
    monkeypatch.setattr(ingest_module, "_one_statement", lambda session, items: False)
    other = Database(db.url)
    raced: list[bool] = []

    def other_writer_first(*args: Any) -> None:
        if args[2].startswith("INSERT INTO contacts") and not raced:
            raced.append(True)
            with other.session() as session:
                store_responses(session, [response("theirs")], now=NOW)

    event.listen(db.engine, "before_cursor_execute", other_writer_first)
    result = _store_mine(db)
    other.dispose()
    assert raced and result.created == 1
    with db.session() as check:
        assert len(check.scalars(select(Contact)).all()) == 1
        assert len(check.scalars(select(Response)).all()) == 2


def test_given_text_beyond_ascii_when_stored_and_resent_then_kept_and_recognised(db: Database):
    item = response("réponse-😀", comment="Grüße, 😀 \"quoted\" \\ back", email="zoë@acme.example",
                    account_domain="acme.example")  # fmt: skip
    with db.session() as session:
        first = store_responses(session, [item], now=NOW)
    with db.session() as session:
        again = store_responses(session, [item], now=NOW)
        stored = session.scalars(select(Response)).one()
        contact = session.scalars(select(Contact)).one()
    assert (first.created, again.unchanged) == (1, 1)
    assert (stored.external_id, stored.comment) == (item["external_id"], item["comment"])
    assert contact.email == "zoë@acme.example"
