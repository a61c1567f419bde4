"""A full sync large enough for Salesforce's Bulk API 2.0 goes through it, not 200 at a time."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pipeline.conftest import make_pipeline
from tests.pipeline.test_end_to_end import run_sync_now

CONTACTS = 2500  # above the adapter's bulk threshold (2,000)


@pytest.mark.integration
def test_given_backfill_above_bulk_threshold_when_syncing_then_bulk_api_used(
    sandbox: Any, request: pytest.FixtureRequest
):
    pipeline = make_pipeline("salesforce", "embedded", sandbox, request, CX360_PUSH_CHUNK=500)
    pipeline.install()
    sandbox.admin.generate_contacts("salesforce", count=CONTACTS, accounts=5)
    responses = [
        {
            "kind": "nps",
            "score": 7 + i % 2,
            "email": f"bulk-{i:06d}@example.com",
            "source": "backfill",
            "external_id": str(i),
            "answered_at": "2026-11-01T10:00:00Z",
        }
        for i in range(CONTACTS)
    ]
    client = pipeline.app.test_client()
    headers = pipeline.headers("ingest")
    for start in range(0, CONTACTS, 1000):
        batch = {"responses": responses[start : start + 1000]}
        assert client.post("/api/v1/responses", json=batch, headers=headers).status_code == 200
    sandbox.admin.reset_stats()

    run = run_sync_now(pipeline, full=True)

    endpoints = sandbox.admin.stats()["endpoints"]
    assert run["written"] >= CONTACTS
    assert endpoints.get("salesforce.bulk2.create_job") == 1, endpoints
    # without bulk: 13 sObject Collections calls for the contacts alone
    assert endpoints.get("salesforce.composite_sobjects.patch", 0) <= 1, endpoints
    written = [
        r
        for r in sandbox.admin.records("salesforce", "Contact")
        if r.get("CX_NPS_Score__c") is not None
    ]
    assert len(written) == CONTACTS
