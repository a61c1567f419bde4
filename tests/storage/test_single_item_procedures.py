"""The PostgreSQL single-item functions (connector.storage.procedures) store exactly what the
set-based Python path stores for the same item: same rows, same ids, same outbox, same result.

Hypothesis draws sequences of one-item calls over a small key space (so accounts and contacts
collide, gain keys, move between accounts, and resends repeat or change), runs each sequence
once through the Python path and once through the functions on the same emptied database,
and compares every call's result and every table afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

import connector.ingest as ingest
from connector.ingest import IngestResult, commit_with_retry, store_ratings, store_responses
from connector.storage import Database
from tests.conftest import truncate_all

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TABLES = {
    "accounts": "id, crm_id, domain, created_at, updated_at",
    "contacts": "id, email, crm_id, account_id, created_at, updated_at",
    "responses": "id, source, external_id, kind, score, comment, contact_id, account_id, "
    "touchpoint, channel, answered_at, received_at, updated_at",
    "employee_ratings": "id, source, external_id, employee, contact_id, account_id, "
    "relationship, potential, comment, rated_at, received_at, updated_at",
    "outbox": "id, subject_type, subject_id, reason, created_at, available_at, attempts",
}

emails = st.sampled_from([None, "ann@acme.example", "bob@acme.example", "cy@beta.example"])
crm_ids = st.sampled_from([None, "003A", "003B"])
account_crm_ids = st.sampled_from([None, "001A", "001B"])
domains = st.sampled_from([None, "acme.example", "beta.example"])
sources = st.sampled_from(["api", "typeform"])
external_ids = st.sampled_from([None, "e1", "e2", "e3"])
comments = st.sampled_from([None, "gut", "schlecht"])
times = st.sampled_from([None, NOW - timedelta(days=2), NOW - timedelta(days=1)])


@st.composite
def responses(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["nps", "csat"]))
    item = {
        "kind": kind,
        "score": draw(st.integers(0, 10) if kind == "nps" else st.integers(1, 5)),
        "email": draw(emails),
        "crm_id": draw(crm_ids),
        "account_crm_id": draw(account_crm_ids),
        "account_domain": draw(domains),
        "comment": draw(comments),
        "touchpoint": draw(st.sampled_from([None, "support"])),
        "channel": None,
        "answered_at": draw(times),
        "source": draw(sources),
        "external_id": draw(external_ids),
    }
    if not item["email"] and not item["crm_id"]:
        item["email"] = "ann@acme.example"  # a response names a person (ResponseIn)
    return item


@st.composite
def ratings(draw: st.DrawFn) -> dict[str, Any]:
    item = {
        "employee": draw(st.sampled_from(["rep@us.example", "cto@us.example"])),
        "email": draw(emails),
        "crm_id": draw(crm_ids),
        "account_crm_id": draw(account_crm_ids),
        "account_domain": draw(domains),
        "relationship": draw(st.integers(0, 10)),
        "potential": draw(st.integers(0, 10)),
        "comment": draw(comments),
        "rated_at": draw(times),
        "source": draw(sources),
        "external_id": draw(external_ids),
    }
    if not any(item[k] for k in ("email", "crm_id", "account_crm_id", "account_domain")):
        item["account_domain"] = "acme.example"  # a rating names someone (RatingIn)
    return item


calls = st.lists(
    st.tuples(st.sampled_from(["response", "rating"]), responses(), ratings()).map(
        lambda t: (t[0], t[1] if t[0] == "response" else t[2])
    ),
    min_size=1,
    max_size=12,
)


@pytest.fixture
def pg(postgres_url: str) -> Iterator[tuple[str, Database]]:
    database = Database(postgres_url)
    yield postgres_url, database
    database.dispose()


def _run(database: Database, sequence: list[tuple[str, dict[str, Any]]]) -> list[tuple[Any, ...]]:
    results = []
    for number, (kind, item) in enumerate(sequence):
        store = store_responses if kind == "response" else store_ratings
        now = NOW + timedelta(minutes=number)
        with database.sessions() as session:
            result: IngestResult = commit_with_retry(
                session, lambda _now, s=session, i=item, t=now, f=store: f(s, [i], now=t)
            )
        results.append((result.created, result.updated, result.unchanged, result.ids,
                        sorted(result.contact_ids), sorted(result.account_ids)))  # fmt: skip
    return results


def _tables(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    tables = {}
    with database.engine.connect() as connection:
        for name, columns in TABLES.items():
            rows = connection.execute(text(f"SELECT {columns} FROM {name} ORDER BY id"))
            tables[name] = [tuple(row) for row in rows]
    return tables


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sequence=calls)
def test_given_item_sequence_when_stored_one_by_one_then_functions_equal_python_path(
    pg: tuple[str, Database], sequence: list[tuple[str, dict[str, Any]]], monkeypatch: Any
) -> None:
    url, database = pg
    truncate_all(url)
    with monkeypatch.context() as patch:
        patch.setattr(ingest, "_one_statement", lambda session, items: False)
        python_results = _run(database, sequence)
    python_tables = _tables(database)
    truncate_all(url)
    function_results = _run(database, sequence)
    assert function_results == python_results
    assert _tables(database) == python_tables


def _protocol_trace(database: Database, path: Path) -> Any:
    """Trace libpq's messages on the pooled connection (the pool holds just that one)."""
    from psycopg import pq

    pooled = database.engine.raw_connection()
    pgconn = pooled.driver_connection.pgconn  # type: ignore[union-attr]
    handle = path.open("w")
    pgconn.trace(handle.fileno())
    pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
    pooled.close()

    def stop() -> list[str]:
        pgconn.untrace()
        handle.close()
        return path.read_text().splitlines()

    return stop


def test_given_one_item_on_postgres_when_stored_committed_then_one_round_trip(
    pg: tuple[str, Database], tmp_path: Path
) -> None:
    url, database = pg
    truncate_all(url)
    item = {"kind": "nps", "score": 3, "email": "ann@acme.example", "source": "api",
            "external_id": "one", "account_domain": "acme.example"}  # fmt: skip
    assert ingest.stores_by_statement(database, [item])
    assert not ingest.stores_by_statement(database, [item, item])
    database.dispose()
    for number in range(6):  # psycopg prepares a statement on its 5th run on a connection
        ingest.store_committed(database, "response", {**item, "external_id": f"warm-{number}"})
    stop = _protocol_trace(database, tmp_path / "libpq.trace")
    result = ingest.store_committed(database, "response", item)
    sent = [line.split("\t") for line in stop() if line.startswith("F")]
    # the prepared call alone: no BEGIN or COMMIT, one Sync, so one wait for the server
    assert [m[2] for m in sent] == ["Bind", "Describe", "Execute", "Sync"], sent
    assert "_pg3_" in sent[0][3]
    assert (result.created, len(result.contact_ids), len(result.account_ids)) == (1, 1, 1)
    with database.engine.connect() as connection:  # committed: another connection sees it
        # seven items of one person: each wrote a row for the contact and one for the account
        assert connection.execute(text("SELECT count(*) FROM outbox")).scalar() == 14
        assert connection.execute(text("SELECT count(*) FROM responses")).scalar() == 7
