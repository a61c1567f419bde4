"""Concurrent ingest of the same people and the same resends stays correct (no duplicates)."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask

from connector.storage import Contact, Response
from tests.conftest import count_rows


def test_given_two_clients_posting_overlapping_batches_when_concurrent_then_no_duplicates(
    app: Flask, ingest_headers: dict[str, str]
):
    items = [
        {"kind": "nps", "score": i % 11, "email": f"person{i % 15}@example.com",
         "source": "race", "external_id": f"r{i}", "answered_at": "2026-10-01T00:00:00Z"}
        for i in range(40)
    ]  # fmt: skip
    replies: list[Any] = []
    errors: list[BaseException] = []

    def post(batch: list[dict[str, Any]]) -> None:
        try:
            client = app.test_client()
            for _ in range(3):
                replies.append(
                    client.post(
                        "/api/v1/responses", json={"responses": batch}, headers=ingest_headers
                    )
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
    assert [r.status_code for r in replies] == [200] * 6, [r.json for r in replies]
    assert count_rows(app, Response) == 40
    assert count_rows(app, Contact) == 15
