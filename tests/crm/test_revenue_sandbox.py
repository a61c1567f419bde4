"""Revenue read from both CRMs (issue #22): ``read_account_revenue`` of the real adapters
against the sandbox, deals written through the real client libraries (simple-salesforce,
hubspot-api-client) as a sales team enters them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from simple_salesforce import Salesforce

from connector.crm.types import AccountRevenue
from crm_sandbox import SandboxServer
from tests.crm.test_adapters_sandbox import _adapter

pytestmark = pytest.mark.integration

CRMS = ("hubspot", "salesforce")
TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with SandboxServer(crm="both", port=0, state_dir=tmp_path_factory.mktemp("revenue")) as server:
        yield server


@pytest.fixture
def fresh(sandbox: SandboxServer) -> SandboxServer:
    """No seed data: the accounts and deals each test enters, nothing else."""
    sandbox.admin.reset(seed=False)
    sandbox.admin.reset_stats()
    return sandbox


class Deals:
    """Accounts and deals entered through the vendor's own client library."""

    def __init__(self, sandbox: SandboxServer, crm: str) -> None:
        self.crm = crm
        if crm == "salesforce":
            session = requests.Session()
            session.verify, session.trust_env = str(sandbox.ca_path), False
            token = session.post(
                sandbox.salesforce_token_url,
                data={"grant_type": "client_credentials", "client_id": "sandbox-client",
                      "client_secret": "sandbox-secret"},
                timeout=10,
            ).json()["access_token"]  # fmt: skip
            self.sf = Salesforce(
                instance_url=sandbox.salesforce_instance_url, session_id=token, session=session
            )
        else:
            self.hs = HubSpot(
                access_token="sandbox-hubspot-token", host=sandbox.url,
                ssl_ca_cert=str(sandbox.ca_path),
            )  # fmt: skip

    def remove_all(self) -> None:
        """Delete every deal (the sandbox's seeded sample deals too), as a user would."""
        if self.crm == "salesforce":
            for record in self.sf.query_all("SELECT Id FROM Opportunity")["records"]:
                self.sf.Opportunity.delete(record["Id"])
            return
        for deal in self.hs.crm.deals.get_all():
            self.hs.crm.deals.basic_api.archive(deal.id)

    def account(self, name: str) -> str:
        if self.crm == "salesforce":
            return str(self.sf.Account.create({"Name": name})["id"])
        company = self.hs.crm.companies.basic_api.create({"properties": {"name": name}})
        return str(company.id)

    def deal(
        self, account: str, amount: str, closed: date, *, won: bool = True,
        closed_stage: bool = True, currency: str | None = None,
    ) -> None:  # fmt: skip
        if self.crm == "salesforce":
            stage = ("Closed Won" if won else "Closed Lost") if closed_stage else "Prospecting"
            values: dict[str, Any] = {
                "AccountId": account, "Name": f"Deal {amount}", "Amount": float(amount),
                "CloseDate": closed.isoformat(), "StageName": stage,
            }  # fmt: skip
            if currency:
                values["CurrencyIsoCode"] = currency
            self.sf.Opportunity.create(values)
            return
        stage = ("closedwon" if won else "closedlost") if closed_stage else "qualifiedtobuy"
        props = {
            "dealname": f"Deal {amount}", "amount": amount, "pipeline": "default",
            "dealstage": stage, "closedate": f"{closed.isoformat()}T12:00:00Z",
        }  # fmt: skip
        if currency:
            props["deal_currency_code"] = currency
        self.hs.crm.deals.basic_api.create(
            {
                "properties": props,
                "associations": [
                    {"to": {"id": account}, "types": [
                        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}]}
                ],
            }
        )  # fmt: skip


@pytest.mark.parametrize("crm", CRMS)
def test_won_deals_in_the_window_are_summed_per_account(fresh: SandboxServer, crm: str) -> None:
    deals = Deals(fresh, crm)
    acme, globex, idle = deals.account("Acme"), deals.account("Globex"), deals.account("Idle")
    deals.deal(acme, "1000.50", TODAY - timedelta(days=3))
    deals.deal(acme, "2000", TODAY - timedelta(days=300))
    deals.deal(acme, "7000", TODAY - timedelta(days=400))  # before the window
    deals.deal(acme, "9000", TODAY - timedelta(days=10), won=False)  # lost
    deals.deal(acme, "8000", TODAY + timedelta(days=30), closed_stage=False)  # open
    deals.deal(globex, "500", TODAY - timedelta(days=1))
    deals.deal(idle, "4000", TODAY - timedelta(days=30), won=False)
    fresh.admin.reset_stats()

    read = _adapter(fresh, crm).read_account_revenue([acme, globex, idle], 365)

    assert read == {
        acme: AccountRevenue(acme, Decimal("3000.50"), "EUR", 2),
        globex: AccountRevenue(globex, Decimal("500"), "EUR", 1),
        idle: AccountRevenue(idle, Decimal(0), "EUR", 0),
    }
    assert _adapter(fresh, crm).read_account_revenue([acme], 30)[acme].amount == Decimal("1000.50")


@pytest.mark.parametrize("crm", CRMS)
def test_deals_in_two_currencies_are_never_added_up(fresh: SandboxServer, crm: str) -> None:
    fresh.admin.enable_currencies(crm, "EUR", {"USD": 1.25, "GBP": 0.8})
    deals = Deals(fresh, crm)
    mixed, dollars, euros = deals.account("Mixed"), deals.account("Dollars"), deals.account("Euros")
    deals.deal(mixed, "100", TODAY - timedelta(days=2), currency="EUR")
    deals.deal(mixed, "100", TODAY - timedelta(days=2), currency="USD")
    deals.deal(dollars, "250", TODAY - timedelta(days=2), currency="USD")
    deals.deal(euros, "40", TODAY - timedelta(days=2), currency="EUR")
    deals.deal(euros, "2", TODAY - timedelta(days=5))  # the default: the company currency

    read = _adapter(fresh, crm).read_account_revenue([mixed, dollars, euros], 365)

    assert read[mixed].amount is None and read[mixed].currency is None
    assert read[mixed].deals == 2
    assert "EUR and USD" in str(read[mixed].note)
    assert read[euros] == AccountRevenue(euros, Decimal("42"), "EUR", 2)
    if crm == "hubspot":  # deal amounts are in the deal's currency
        assert read[dollars] == AccountRevenue(dollars, Decimal("250"), "USD", 1)
    else:  # SUM() with GROUP BY answers in the corporate currency: 250 USD / 1.25
        assert (read[dollars].amount, read[dollars].currency) == (Decimal("200.0"), "EUR")
        assert "USD" in str(read[dollars].note)


@pytest.mark.parametrize("crm", CRMS)
def test_bad_input_names_what_is_wrong(fresh: SandboxServer, crm: str) -> None:
    adapter = _adapter(fresh, crm)
    with pytest.raises(ValueError, match="window_days must be at least 1"):
        adapter.read_account_revenue(["1"], 0)
    with pytest.raises(ValueError, match="'not an id'"):
        adapter.read_account_revenue(["not an id"], 365)
    assert adapter.read_account_revenue([], 365) == {}


def test_salesforce_reads_2000_accounts_a_query_five_queries_a_call(fresh: SandboxServer) -> None:
    """2,500 account ids: two aggregate queries (2,000 + 500 ids, far longer than a URI may
    be) in one Composite request, after the describe and the currency query."""
    deals = Deals(fresh, "salesforce")
    real = deals.account("Real")
    deals.deal(real, "10", TODAY)
    ids = [real, *(f"0015g{n:010d}AAA" for n in range(2499))]
    fresh.admin.reset_stats()

    read = _adapter(fresh, "salesforce").read_account_revenue(ids, 365)

    assert len(read) == 2500 and read[real].amount == Decimal("10.0")
    endpoints = fresh.admin.stats()["endpoints"]
    calls = {k: v for k, v in endpoints.items() if k.startswith("salesforce.") and v}
    assert calls == {
        "salesforce.oauth.token": 1,  # the adapter logs in
        "salesforce.describe": 1,
        "salesforce.query": 1,
        "salesforce.composite": 1,
    }


def test_hubspot_reads_the_window_s_won_deals_once_whatever_the_accounts(
    fresh: SandboxServer,
) -> None:
    """One account-info call, one search page per 200 won deals, one association read per
    1,000 deals, counted by the sandbox: the same for one company asked as for all."""
    deals = Deals(fresh, "hubspot")
    companies = [deals.account(f"Company {n}") for n in range(3)]
    for company in companies:
        deals.deal(company, "10", TODAY - timedelta(days=1))
    fresh.admin.reset_stats()

    read = _adapter(fresh, "hubspot").read_account_revenue(companies[:1], 365)

    assert read == {companies[0]: AccountRevenue(companies[0], Decimal("10"), "EUR", 1)}
    endpoints = fresh.admin.stats()["endpoints"]
    calls = {k: v for k, v in endpoints.items() if k.startswith("hubspot.") and v}
    assert calls == {
        "hubspot.account_info.details": 1,
        "hubspot.deals.search": 1,
        "hubspot.associations.batch_read": 1,
    }


def test_hubspot_search_limit_per_second_is_waited_out_page_by_page(
    fresh: SandboxServer,
) -> None:
    """HubSpot's search endpoints allow a few requests a second (429 above, Retry-After): a
    page refused is asked again, so the portal-wide read still finishes with every deal."""
    companies = fresh.state.generate_revenue_accounts("hubspot", 150, won_per_account=2)
    fresh.admin.set_limits(hubspot_search_per_second=1)
    fresh.admin.reset_stats()

    read = _adapter(fresh, "hubspot").read_account_revenue(companies, 365)

    assert {r.amount for r in read.values()} == {Decimal("2100.00")}  # 1,000 + 1,100
    assert sum(r.deals for r in read.values()) == 300  # two pages of 200
