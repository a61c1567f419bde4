"""Concurrent ingest of the same people and the same resends stays correct (no duplicates)."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

from connector.api import ingest as api_ingest
from connector.app import database
from connector.storage import Account, Contact, Response, utcnow
from tests.conftest import count_rows


def post_in_opposite_orders(
    app: Flask, headers: dict[str, str], items: list[dict[str, Any]], *, times: int
) -> list[Any]:
    """Two clients post ``items`` ``times`` times at once, the second in reverse order."""
    replies: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def post(batch: list[dict[str, Any]]) -> None:
        try:
            client = app.test_client()
            start.wait(timeout=60)
            for _ in range(times):
                replies.append(
                    client.post("/api/v1/responses", json={"responses": batch}, headers=headers)
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(items,)),
               threading.Thread(target=post, args=(list(reversed(items)),))]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    return replies


def test_given_two_clients_posting_overlapping_batches_when_concurrent_then_no_duplicates(
    app: Flask, ingest_headers: dict[str, str]
):
    items = [
        {"kind": "nps", "score": i % 11, "email": f"person{i % 15}@example.com",
         "source": "race", "external_id": f"r{i}", "answered_at": "2026-10-01T00:00:00Z"}
        for i in range(40)
    ]  # fmt: skip
    replies = post_in_opposite_orders(app, ingest_headers, items, times=3)
    assert [r.status_code for r in replies] == [200] * 6, [r.json for r in replies]
    assert count_rows(app, Response) == 40
    assert count_rows(app, Contact) == 15


def test_given_overlapping_batches_in_opposite_orders_when_posted_many_rounds_then_only_200s(
    app: Flask, ingest_headers: dict[str, str]
):
    """Each round two clients post the same new items (new people, new accounts, resends of
    the round before) in opposite orders at once. Batches take their rows in sorted key order,
    so they wait for each other rather than deadlock; a conflict that still happens is retried
    (``connector.storage.conflicts``). Either way no client sees a 503."""
    rounds = 25
    for round_number in range(rounds):
        items = [
            {"kind": "csat", "score": 1 + (i + round_number) % 5,
             "email": f"p{round_number}-{i % 10}@example.com",
             "account_domain": f"d{(round_number + i) % 4}.example",
             "source": "rounds", "external_id": f"x{round_number * 10 + i}",
             "answered_at": "2026-10-01T00:00:00Z"}
            for i in range(20)
        ]  # fmt: skip
        replies = post_in_opposite_orders(app, ingest_headers, items, times=1)
        assert [r.status_code for r in replies] == [200, 200], [r.json for r in replies]
    assert count_rows(app, Response) == rounds * 10 + 10
    assert count_rows(app, Contact) == rounds * 10


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_given_a_deadlock_with_another_transaction_when_batch_posted_then_retried_and_200(
    app: Flask,
    ingest_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    """A real deadlock: the request's transaction locks account B then A, another transaction
    A then B. PostgreSQL's deadlock check (after deadlock_timeout) fires in the request's
    backend and aborts its transaction with 40P01; the retry goes through.
    https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-DEADLOCKS
    """
    caplog.set_level(logging.WARNING, logger="connector.storage.conflicts")
    db = database(app)
    with db.session() as session:
        first, second = (
            Account(domain=domain, created_at=utcnow(), updated_at=utcnow())
            for domain in ("a.example", "b.example")
        )
        session.add_all([first, second])
        session.flush()
        account_a, account_b = first.id, second.id
    lock = text("UPDATE accounts SET updated_at = now() WHERE id = :id")
    request_pid: queue.Queue[int] = queue.Queue()
    other_holds_a = threading.Event()
    calls: list[int] = []
    real_store = api_ingest.store_responses

    def store_after_deadlocking(session: Session, items: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:  # the first attempt only
            session.execute(lock, {"id": account_b})
            request_pid.put(session.scalar(text("SELECT pg_backend_pid()")))
            assert other_holds_a.wait(timeout=60)
            session.execute(lock, {"id": account_a})  # waits for the other: deadlock
        return real_store(session, items, **kwargs)

    monkeypatch.setattr(api_ingest, "store_responses", store_after_deadlocking)
    replies: list[Any] = []
    items = [
        {"kind": "nps", "score": 9, "email": f"dead{i}@example.com",
         "account_domain": "a.example", "source": "deadlock", "external_id": f"d{i}",
         "answered_at": "2026-10-01T00:00:00Z"}
        for i in range(2)
    ]  # fmt: skip
    poster = threading.Thread(
        target=lambda: replies.append(
            app.test_client().post(
                "/api/v1/responses", json={"responses": items}, headers=ingest_headers
            )
        )
    )
    poster.start()
    pid = request_pid.get(timeout=60)
    with db.engine.connect() as other, db.engine.connect() as watcher:
        # This side checks for deadlocks only after a minute, so the request's backend, whose
        # check runs after the default second, is always the one PostgreSQL aborts.
        other.execute(text("SET LOCAL deadlock_timeout = '60s'"))
        other.execute(lock, {"id": account_a})
        other_holds_a.set()
        waiting = text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid")
        while watcher.execute(waiting, {"pid": pid}).scalar() != "Lock":
            watcher.rollback()
            threading.Event().wait(0.01)
        other.execute(lock, {"id": account_b})  # the request now waits for us, we for it
        other.commit()
    poster.join(timeout=120)
    assert [r.status_code for r in replies] == [200], [r.json for r in replies]
    assert len(calls) == 2
    assert count_rows(app, Response) == 2
    retried = [r.getMessage() for r in caplog.records if r.name == "connector.storage.conflicts"]
    assert len(retried) == 1 and "SQLSTATE 40P01" in retried[0], retried
