"""Two worker processes share one request budget: together they stay under the CRM's limit."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.pipeline.conftest import make_pipeline
from tests.pipeline.test_end_to_end import pending_outbox

CONTACTS = 120


@pytest.mark.integration
def test_given_two_workers_and_a_20_per_10s_limit_when_pushing_then_no_429_and_all_arrive(
    sandbox: Any, request: pytest.FixtureRequest
):
    # One push task per 10 contacts, so the two workers really work side by side.
    pipeline = make_pipeline(
        "hubspot",
        "embedded",
        sandbox,
        request,
        CX360_CRM_RATE_LIMIT="20 per 10 seconds",
        CX360_PUSH_CHUNK=10,
    )
    pipeline.install()
    sandbox.admin.generate_contacts("hubspot", count=CONTACTS, accounts=4)
    sandbox.admin.set_limits(hubspot_ten_second=20, reset_usage=True)
    sandbox.admin.reset_stats()
    pipeline.start_worker(beat=True)
    pipeline.start_worker(beat=False)
    headers = pipeline.headers("ingest")
    responses = [
        {
            "kind": "nps",
            "score": i % 11,
            "email": f"bulk-{i:06d}@example.com",
            "source": "limit-test",
            "external_id": str(i),
            "answered_at": "2026-11-01T10:00:00Z",
        }
        for i in range(CONTACTS)
    ]
    started = time.monotonic()
    reply = pipeline.app.test_client().post(
        "/api/v1/responses", json={"responses": responses}, headers=headers
    )
    assert reply.status_code == 200
    pipeline.wait_for(lambda: pending_outbox(pipeline) == 0, timeout=180, what="the push")
    elapsed = time.monotonic() - started

    stats = sandbox.admin.stats()
    calls = stats["hubspot"]["total"]
    assert stats["rate_limited"]["hubspot"] == 0, stats
    assert calls > 20  # the limit really was in play ...
    assert elapsed >= 10 * (calls // 20 - 1)  # ... and the workers waited for the budget
    written = [
        r
        for r in sandbox.admin.records("hubspot", "contacts")
        if (r.get("properties") or {}).get("cx360_nps_score") not in (None, "")
    ]
    assert len(written) == CONTACTS


@pytest.mark.parametrize(
    ("limit", "sent"), [(190, 180), (100, 95), (20, 18), (10, 8), (2, 1), (5000, 4750)]
)
def test_given_crm_limit_then_cx360_keeps_five_percent_at_least_two_back(limit: int, sent: int):
    from connector.sync.ratelimit import headroom_amount

    assert headroom_amount(limit) == sent


def test_given_shared_budget_when_window_is_used_up_then_next_call_waits():
    import uuid

    from connector.sync.ratelimit import SharedRateLimit
    from tests.pipeline.conftest import REDIS_TEST_URL, redis_available

    redis_available(REDIS_TEST_URL)

    class Waited(Exception):
        pass

    def sleep(seconds: float) -> None:
        raise Waited(seconds)

    key = f"test-{uuid.uuid4().hex}"
    first = SharedRateLimit(REDIS_TEST_URL, key, "20 per 10 seconds", sleep=sleep)
    second = SharedRateLimit(REDIS_TEST_URL, key, "20 per 10 seconds", sleep=sleep)
    for number in range(18):
        (first if number % 2 else second)()  # two workers, one budget: no wait for 18
    with pytest.raises(Waited) as waited:
        first()
    assert 0 < waited.value.args[0] <= 10
