"""Servers restarted under load: ingest answers 503 (never 500) while PostgreSQL is down and
keeps answering 2xx while Redis is down; nothing accepted is lost and the push completes.

Both servers are private to the test (``tests/reliability/conftest.py``): the machine's
shared PostgreSQL and Redis are never stopped.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from connector.demo import served
from tests.pipeline.conftest import make_pipeline
from tests.reliability.harness import (
    Load,
    PrivatePostgres,
    PrivateRedis,
    WorkerGroups,
    check_crm,
    make_load,
    pending_outbox,
    response_items,
    wait_until,
)

SOURCE = "reliability"  # response_items' source; external_id is "r-<email>"


@dataclass
class Sender:
    """Posts one response per request, each contact's with its own external_id, and resends
    after a 503 (as a survey tool honouring Retry-After would, only sooner)."""

    base: str
    load: Load
    headers: dict[str, str]
    replies: list[tuple[str, int, str | None]] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def run(self, deadline: float) -> None:
        with requests.Session() as http:
            for item in response_items(self.load, self.load.emails):
                while time.monotonic() < deadline:
                    try:
                        reply = http.post(f"{self.base}/api/v1/responses", json=item,
                                          headers=self.headers, timeout=30)  # fmt: skip
                    except requests.RequestException as exc:
                        self.problems.append(f"{item['external_id']}: {type(exc).__name__}")
                        time.sleep(0.3)
                        continue
                    retry_after = reply.headers.get("Retry-After")
                    self.replies.append((item["external_id"], reply.status_code, retry_after))
                    if 200 <= reply.status_code < 300:
                        self.accepted.add(item["external_id"])
                        break
                    time.sleep(0.3)


def stored_external_ids(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT external_id FROM responses WHERE source = :source"),
                {"source": SOURCE},
            )
            return {str(r[0]) for r in rows}
    finally:
        engine.dispose()


@pytest.mark.integration
def test_given_postgres_restarted_mid_ingest_when_posting_then_503_nothing_lost_push_completes(
    sandbox: Any,
    request: pytest.FixtureRequest,
    private_postgres: PrivatePostgres,
    private_redis: PrivateRedis,
):
    pipeline = make_pipeline(
        "hubspot", "embedded", sandbox, request,
        CX360_DATABASE_URL=private_postgres.url, CX360_BROKER_URL=private_redis.url,
        CX360_OUTBOX_LEASE_SECONDS=6,
    )  # fmt: skip
    pipeline.install()
    load = make_load(sandbox, "hubspot", 150, accounts=5)
    workers = WorkerGroups(pipeline.env, pipeline.instance)
    request.addfinalizer(workers.stop)
    workers.start()
    # a worker starting while the database is down exits (its ``db upgrade`` fails): the
    # restart under test is the one of a running system
    wait_until(lambda: "ready." in workers.logs(), 60, "the worker to be ready")
    with served(pipeline.app) as base:
        sender = Sender(base, load, pipeline.headers("ingest"))
        thread = threading.Thread(target=sender.run, args=(time.monotonic() + 50,), daemon=True)
        thread.start()
        wait_until(lambda: len(sender.accepted) >= 30, 30, "30 accepted responses")
        private_postgres.stop("immediate")
        wait_until(lambda: any(s == 503 for _, s, _ in sender.replies), 15, "a 503")
        time.sleep(3)
        private_postgres.start()
        thread.join(55)
    assert not thread.is_alive(), "the sender did not finish"

    statuses: dict[int, int] = {}
    for _, status, _ in sender.replies:
        statuses[status] = statuses.get(status, 0) + 1
    bad = [r for r in sender.replies if r[1] != 503 and not 200 <= r[1] < 300]
    assert not bad, f"replies other than 2xx/503: {statuses}; e.g. {bad[:5]}\n{workers.logs()}"
    assert statuses.get(503, 0) > 0, f"the outage produced no 503: {statuses}"
    assert all(r[2] for r in sender.replies if r[1] == 503), "a 503 without Retry-After"
    assert not sender.problems, sender.problems[:5]
    assert len(sender.accepted) == len(load.emails)
    assert sender.accepted <= stored_external_ids(private_postgres.url)

    wait_until(lambda: pending_outbox(pipeline.app) == 0, 60, "the outbox to drain")
    check = check_crm(sandbox, pipeline.config, load, datetime.now(UTC))
    assert check.ok, check.summary() + "\n" + workers.logs()
    assert check.tasks == len(load.detractors)


def shut_down(server: PrivateRedis) -> None:
    """SHUTDOWN (SIGTERM), nothing saved: every queued message is gone, as after a crash."""
    assert server.process is not None
    server.process.terminate()
    server.process.wait(10)
    server.process = None


@pytest.mark.integration
def test_given_redis_restarted_mid_push_when_ingesting_then_2xx_meanwhile_and_everything_arrives(
    sandbox: Any, request: pytest.FixtureRequest, private_redis: PrivateRedis
):
    pipeline = make_pipeline(
        "hubspot", "embedded", sandbox, request,
        CX360_BROKER_URL=private_redis.url, CX360_PUSH_CHUNK=25, CX360_OUTBOX_LEASE_SECONDS=6,
    )  # fmt: skip
    pipeline.install()
    load = make_load(sandbox, "hubspot", 300, accounts=10)
    sandbox.admin.set_faults("hubspot", latency_ms=100)  # the push lasts long enough to be hit
    sandbox.admin.reset_stats()
    client = pipeline.app.test_client()
    headers = pipeline.headers("ingest")
    first, second = load.emails[:150], load.emails[150:]
    reply = client.post("/api/v1/responses", json={"responses": response_items(load, first)},
                        headers=headers)  # fmt: skip
    assert reply.status_code == 200, reply.get_json()
    workers = WorkerGroups(pipeline.env, pipeline.instance)
    request.addfinalizer(workers.stop)
    workers.start()
    wait_until(lambda: sandbox.admin.stats()["hubspot"]["total"] >= 3, 60, "the push to start")

    in_flight = pending_outbox(pipeline.app)
    shut_down(private_redis)
    statuses = [
        client.post("/api/v1/responses", json=item, headers=headers).status_code
        for item in response_items(load, second)
    ]
    written_while_down = sandbox.admin.stats()["hubspot"]["total"]
    time.sleep(2)
    private_redis.start()  # same port, empty

    assert in_flight > 0, "the push had finished before Redis went down"
    assert set(statuses) == {200}, statuses
    wait_until(lambda: pending_outbox(pipeline.app) == 0, 90, "the outbox to drain")
    check = check_crm(sandbox, pipeline.config, load, datetime.now(UTC))
    assert check.ok, check.summary() + "\n" + workers.logs()
    assert check.tasks == len(load.detractors)
    assert sandbox.admin.stats()["hubspot"]["total"] > written_while_down, "nothing after restart"
