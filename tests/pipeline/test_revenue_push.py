"""Stored revenue reaches the Account / Company through a real worker and the real client
libraries (issue #22): install created the fields, the push writes amount, currency and the
status picklist value, and a refresh that read the same revenue writes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from connector.app import database
from connector.cli import main
from connector.revenue import store_revenue
from connector.storage import Account, utcnow
from tests.crm.test_revenue_sandbox import Deals
from tests.pipeline.conftest import Pipeline
from tests.pipeline.test_end_to_end import (
    CRMS_AND_BACKENDS,
    DOMAINS,
    crm_values,
    expected_cards,
    pending_outbox,
    pushed_sample,
    write_calls,
)
from tests.revenue_readings import Reading

FIELDS = {
    "hubspot": ("cx360_revenue_amount", "cx360_revenue_currency", "cx360_revenue_status"),
    "salesforce": ("CX_Revenue_Amount__c", "CX_Revenue_Currency__c", "CX_Revenue_Status__c"),
}
STATUS_VALUES = {
    "hubspot": {"at_risk": "at_risk", "safe": "safe", "no_signal": "no_signal"},
    "salesforce": {"at_risk": "At_Risk", "safe": "Safe", "no_signal": "No_Signal"},
}
# kessler: one currency; vogelsang: deals the CRM could not sum in one currency.
READINGS = {
    DOMAINS[0]: Reading(Decimal("60000.50"), "EUR", 3),
    DOMAINS[1]: Reading(None, None, 2, "deals in EUR and CHF"),
}


def store(pipeline: Pipeline) -> list[int]:
    """Store READINGS as the refresh does (the accounts whose revenue changed are queued)."""
    with database(pipeline.app).session() as session:
        ids = {row.domain: row.id for row in session.execute(select(Account.domain, Account.id))}
        return store_revenue(session, {ids[d]: r for d, r in READINGS.items()}, now=utcnow())


@pytest.mark.integration
@CRMS_AND_BACKENDS
def test_given_stored_revenue_when_worker_pushes_then_account_fields_hold_it(
    sandbox: Any, request: pytest.FixtureRequest, crm: str, backend: str
):
    pipeline = pushed_sample(crm, backend, sandbox, request)
    assert len(store(pipeline)) == 2
    pipeline.wait_for(lambda: pending_outbox(pipeline) == 0, what="the revenue push")

    _, accounts = expected_cards(datetime.now(UTC))
    amount, currency, status = FIELDS[crm]
    kessler = crm_values(pipeline, "account", DOMAINS[0])
    nps = accounts[DOMAINS[0]]["nps.score"]
    assert nps is not None
    expected_status = "at_risk" if nps < 0 else "safe"
    assert float(kessler[amount]) == 60000.5
    assert kessler[currency] == "EUR"
    assert kessler[status] == STATUS_VALUES[crm][expected_status]
    vogelsang = crm_values(pipeline, "account", DOMAINS[1])
    assert vogelsang.get(amount) in (None, "")  # unknown: never a sum of two currencies
    assert vogelsang.get(status) in (None, "")

    # the next refresh reads the same revenue: nothing queued, nothing written
    before = write_calls(pipeline)
    assert store(pipeline) == []
    assert pending_outbox(pipeline) == 0
    assert write_calls(pipeline) == before


@pytest.mark.integration
@CRMS_AND_BACKENDS
def test_given_deals_in_the_crm_when_refresh_is_requested_then_fields_and_figures_follow(
    sandbox: Any, request: pytest.FixtureRequest, crm: str, backend: str
):
    """End to end: deals entered with the vendor's client library, the refresh asked for over
    the API and run by the worker, the fields on the Account / Company, the figures in the
    API; by hand: kessler's won deals in the window 1,000.50 + 2,000 = 3,000.50."""
    pipeline = pushed_sample(crm, backend, sandbox, request)
    with database(pipeline.app).session() as session:
        crm_ids = {
            r.domain: r.crm_id for r in session.execute(select(Account.domain, Account.crm_id))
        }
    deals = Deals(sandbox, crm)
    deals.remove_all()  # the seeded sample deals: only this test's count
    kessler = str(crm_ids[DOMAINS[0]])
    today = datetime.now(UTC).date()
    deals.deal(kessler, "1000.50", today - timedelta(days=3))
    deals.deal(kessler, "2000", today - timedelta(days=300))
    deals.deal(kessler, "7000", today - timedelta(days=400))  # before the window
    deals.deal(kessler, "9000", today - timedelta(days=10), won=False)  # lost

    client = pipeline.app.test_client()
    queued = client.post("/api/v1/stats/revenue/refresh", headers=pipeline.headers("admin"))
    assert queued.status_code == 202, queued.json
    amount, currency, status = FIELDS[crm]

    def written() -> Any:
        values = crm_values(pipeline, "account", DOMAINS[0])
        return values if values.get(amount) not in (None, "") else None

    fields = pipeline.wait_for(written, what="the refreshed revenue on the account")
    assert float(fields[amount]) == 3000.5
    code = fields[currency]
    assert isinstance(code, str) and len(code) == 3
    _, accounts = expected_cards(datetime.now(UTC))
    nps = accounts[DOMAINS[0]]["nps.score"]
    assert fields[status] == STATUS_VALUES[crm]["at_risk" if nps < 0 else "safe"]
    # vogelsang has no won deal: revenue 0, never counted, no status
    vogelsang = crm_values(pipeline, "account", DOMAINS[1])
    assert float(vogelsang[amount] or 0) == 0 and vogelsang.get(status) in (None, "")

    stats = client.get("/api/v1/stats/revenue", headers=pipeline.headers("read")).json
    (portfolio,) = stats["portfolios"]
    assert portfolio["currency"] == code and portfolio["revenue"] == 3000.5
    assert portfolio["coverage_pct"] == 100.0 and portfolio["weighted_nps"] == nps


@pytest.mark.integration
def test_given_deals_when_cli_refreshes_then_it_reports_and_queues_the_changed_account(
    sandbox: Any, request: pytest.FixtureRequest
):
    pipeline = pushed_sample("salesforce", "embedded", sandbox, request)
    with database(pipeline.app).session() as session:
        kessler = session.scalar(select(Account.crm_id).where(Account.domain == DOMAINS[0]))
    deals = Deals(sandbox, "salesforce")
    deals.remove_all()  # the seeded sample deals: only this test's count
    deals.deal(str(kessler), "500", datetime.now(UTC).date())
    pipeline.stop_workers()  # the CLI works without a worker

    def refresh() -> dict[str, Any]:
        done = CliRunner().invoke(main, ["revenue", "refresh", "--json"], env=pipeline.env,
                                  catch_exceptions=False)  # fmt: skip
        assert done.exit_code == 0, done.output
        return dict(json.loads(done.output[done.output.index("{") :]))

    first = refresh()
    assert first["read"] == first["accounts"] >= 2
    # the currency and one aggregate query (and a token): within the 10 per 10,000
    assert first["changed"] == first["read"] and 0 < first["api_calls"] <= 10
    assert pending_outbox(pipeline) == first["changed"]
    assert refresh()["changed"] == 0  # the same revenue read again: nothing to push
