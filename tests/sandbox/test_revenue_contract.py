"""The sandbox's opportunities and deals (issue #22), driven through simple-salesforce and
hubspot-api-client, each behaviour checked against the vendor's documentation."""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.associations.v4.exceptions import ApiException as AssociationsApiException
from hubspot.crm.deals.exceptions import ApiException as DealsApiException
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceMalformedRequest

from crm_sandbox import SandboxServer

TODAY = datetime.now(UTC).date()
SOQL = "https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/"
OBJECTS = (
    "https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/"
)


def _account(sf: Salesforce, name: str) -> str:
    return str(sf.Account.create({"Name": name})["id"])


def _opportunity(sf: Salesforce, account: str, amount: float, stage: str, days_ago: int,
                 **extra: Any) -> str:  # fmt: skip
    values = {
        "AccountId": account, "Name": f"{stage} {amount}", "Amount": amount,
        "StageName": stage, "CloseDate": (TODAY - timedelta(days=days_ago)).isoformat(), **extra,
    }  # fmt: skip
    return str(sf.Opportunity.create(values)["id"])


# ------------------------------------------------------------------------- Salesforce
def test_opportunity_is_won_and_closed_by_its_stage_and_cannot_be_set(sf: Salesforce) -> None:
    """IsWon and IsClosed are read-only and follow the stage (StageName), which comes from the
    OpportunityStage picklist ("Closed Won": closed and won; "Closed Lost": closed, not won):
    https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_opportunity.htm"""
    account = _account(sf, "Stages")
    won = _opportunity(sf, account, 10, "Closed Won", 1)
    lost = _opportunity(sf, account, 10, "Closed Lost", 1)
    open_ = _opportunity(sf, account, 10, "Prospecting", -5)
    flags = {rid: (r["IsClosed"], r["IsWon"]) for rid in (won, lost, open_)
             for r in [sf.Opportunity.get(rid)]}  # fmt: skip
    assert flags == {won: (True, True), lost: (True, False), open_: (False, False)}
    sf.Opportunity.update(open_, {"StageName": "Closed Won"})
    assert sf.Opportunity.get(open_)["IsWon"] is True
    with pytest.raises(SalesforceError):
        sf.Opportunity.create({"AccountId": account, "Name": "x", "StageName": "Prospecting",
                               "CloseDate": TODAY.isoformat(), "IsWon": True})  # fmt: skip


def test_aggregate_query_sums_and_counts_per_group(sf: Salesforce) -> None:
    """SUM(), COUNT() with GROUP BY and aliases answer AggregateResult rows with the grouped
    field and each alias; LAST_N_DAYS:n is the last n days up to today:
    https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_agg_functions.htm
    https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_dateformats.htm"""
    one, two = _account(sf, "One"), _account(sf, "Two")
    _opportunity(sf, one, 100.25, "Closed Won", 0)
    _opportunity(sf, one, 50, "Closed Won", 30)
    _opportunity(sf, one, 70, "Closed Won", 31)  # outside LAST_N_DAYS:30
    _opportunity(sf, one, 999, "Closed Lost", 1)
    _opportunity(sf, two, 5, "Closed Won", 2)
    result = sf.query(
        "SELECT AccountId, SUM(Amount) total, COUNT(Id), MAX(CloseDate) latest FROM Opportunity "
        f"WHERE IsWon = true AND CloseDate = LAST_N_DAYS:30 AND AccountId IN ('{one}', '{two}') "
        "GROUP BY AccountId"
    )
    rows = {r["AccountId"]: r for r in result["records"]}
    assert result["totalSize"] == 2 and result["done"] is True
    assert rows[one]["attributes"] == {"type": "AggregateResult"}
    assert (rows[one]["total"], rows[one]["expr0"], rows[one]["latest"]) == (
        150.25,
        2,
        TODAY.isoformat(),
    )
    assert (rows[two]["total"], rows[two]["expr0"]) == (5.0, 1)
    # "LAST_N_DAYS:1 includes yesterday and today"
    recent = _account(sf, "Recent")
    for days_ago in (0, 1, 2):
        _opportunity(sf, recent, 10**days_ago, "Closed Won", days_ago)
    (row,) = sf.query(
        f"SELECT SUM(Amount) total FROM Opportunity WHERE AccountId = '{recent}' "
        "AND CloseDate = LAST_N_DAYS:1"
    )["records"]
    assert row["total"] == 11.0


def test_aggregate_query_refuses_an_ungrouped_field_and_more_than_2000_rows(
    sf: Salesforce,
) -> None:
    """A selected field must be grouped or aggregated; aggregate queries have no queryMore, so
    more than 2,000 rows is an error (use LIMIT):
    https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_groupby.htm
    https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_agg_functions.htm"""
    with pytest.raises(SalesforceMalformedRequest, match="grouped or aggregated: Name"):
        sf.query("SELECT Name, SUM(Amount) FROM Opportunity GROUP BY AccountId")
    with pytest.raises(SalesforceMalformedRequest, match="does not support aggregate operator"):
        sf.query("SELECT SUM(Name) FROM Opportunity")
    sf.bulk2.Account.insert(records=[{"Name": f"Many {n}"} for n in range(2001)])
    with pytest.raises(SalesforceMalformedRequest, match="does not support queryMore"):
        sf.query("SELECT Name, COUNT(Id) FROM Account GROUP BY Name")


def test_long_soql_goes_in_a_composite_request_not_the_uri(sf: Salesforce) -> None:
    """A REST call's URI is at most 16,384 bytes (414 above); a longer SOQL statement goes in a
    Composite request's body as a subrequest (up to 5 queries, one call); SOQL itself is at
    most 100,000 characters:
    https://help.salesforce.com/s/articleView?id=000386264&language=en_US&type=1
    https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_composite.htm"""
    account = _account(sf, "Composite")
    _opportunity(sf, account, 12, "Closed Won", 1)
    ids = [account, *(f"0015g{n:010d}AAA" for n in range(1999))]
    soql = ("SELECT AccountId, SUM(Amount) total FROM Opportunity WHERE AccountId IN ("
            + ", ".join(f"'{i}'" for i in ids) + ") GROUP BY AccountId")  # fmt: skip
    with pytest.raises(SalesforceError) as too_long:
        sf.query(soql)
    assert too_long.value.status == 414
    url = f"/services/data/v{sf.sf_version}/query?" + urllib.parse.urlencode({"q": soql})
    body = {"compositeRequest": [{"method": "GET", "url": url, "referenceId": "r"}]}
    reply = sf.restful("composite", method="POST", data=json.dumps(body))
    answer = reply["compositeResponse"][0]
    assert (answer["httpStatusCode"], answer["referenceId"]) == (200, "r")
    assert answer["body"]["records"][0]["total"] == 12.0
    six = {"compositeRequest": [{"method": "GET", "url": url, "referenceId": f"r{n}"}
                                for n in range(6)]}  # fmt: skip
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite", method="POST", data=json.dumps(six))


def test_multi_currency_org_sums_in_the_corporate_currency(
    sf: Salesforce, sandbox: SandboxServer
) -> None:
    """With multiple currencies, records carry CurrencyIsoCode, CurrencyType lists the
    currencies (one IsCorporate, ConversionRate per corporate unit), and SUM() with GROUP BY
    answers in the org's default (corporate) currency:
    https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_querying_currency_fields.htm
    https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_currencytype.htm
    A single-currency org names its currency in Organization.DefaultCurrencyIsoCode:
    https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_organization.htm"""
    assert (
        sf.query("SELECT DefaultCurrencyIsoCode FROM Organization")["records"][0][
            "DefaultCurrencyIsoCode"
        ]
        == "EUR"
    )
    assert sf.Organization.describe()["createable"] is False
    with pytest.raises(SalesforceError):
        sf.Organization.create({"Name": "Another org"})
    names = {f["name"] for f in sf.Opportunity.describe()["fields"]}
    assert "CurrencyIsoCode" not in names
    sandbox.admin.enable_currencies("salesforce", "EUR", {"USD": 1.25})
    assert "CurrencyIsoCode" in {f["name"] for f in sf.Opportunity.describe()["fields"]}
    corporate = sf.query("SELECT IsoCode FROM CurrencyType WHERE IsCorporate = true")
    assert [r["IsoCode"] for r in corporate["records"]] == ["EUR"]
    account = _account(sf, "Dollars")
    _opportunity(sf, account, 125, "Closed Won", 1, CurrencyIsoCode="USD")
    _opportunity(sf, account, 10, "Closed Won", 1)
    row = sf.query(
        "SELECT AccountId, SUM(Amount) total, COUNT_DISTINCT(CurrencyIsoCode) currencies, "
        f"MIN(CurrencyIsoCode) low FROM Opportunity WHERE AccountId = '{account}' "
        "GROUP BY AccountId"
    )["records"][0]
    assert (row["total"], row["currencies"], row["low"]) == (110.0, 2, "EUR")
    with pytest.raises(SalesforceError):
        _opportunity(sf, account, 1, "Closed Won", 1, CurrencyIsoCode="JPY")


# ---------------------------------------------------------------------------- HubSpot
def _company(hs: HubSpot, name: str) -> str:
    return str(hs.crm.companies.basic_api.create({"properties": {"name": name}}).id)


def _deal(hs: HubSpot, company: str | None, amount: str, stage: str, days_ago: int,
          **extra: str) -> str:  # fmt: skip
    closed = datetime.now(UTC) - timedelta(days=days_ago)
    body: dict[str, Any] = {
        "properties": {
            "dealname": f"{stage} {amount}",
            "amount": amount,
            "pipeline": "default",
            "dealstage": stage,
            "closedate": closed.strftime("%Y-%m-%dT%H:%M:%SZ"),
            **extra,
        }
    }
    if company:
        body["associations"] = [
            {
                "to": {"id": company},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}],
            }
        ]
    return str(hs.crm.deals.basic_api.create(body).id)  # fmt: skip


def test_deal_is_closed_won_by_its_stage_and_cannot_be_set(hs: HubSpot) -> None:
    """Deals have amount, closedate, dealstage and pipeline; hs_is_closed_won is calculated
    from the stage (read-only); the default pipeline's won stage is closedwon:
    https://developers.hubspot.com/docs/guides/api/crm/objects/deals
    https://knowledge.hubspot.com/properties/hubspots-default-deal-properties"""
    company = _company(hs, "Stages")
    won = _deal(hs, company, "10", "closedwon", 1)
    lost = _deal(hs, company, "10", "closedlost", 1)
    read = hs.crm.deals.basic_api.get_by_id(won, properties=["hs_is_closed_won", "hs_is_closed"])
    assert (read.properties["hs_is_closed_won"], read.properties["hs_is_closed"]) == (
        "true",
        "true",
    )
    lost_read = hs.crm.deals.basic_api.get_by_id(lost, properties=["hs_is_closed_won"])
    assert lost_read.properties["hs_is_closed_won"] == "false"
    with pytest.raises(DealsApiException):
        _deal(hs, company, "1", "closedwon", 1, hs_is_closed_won="false")


def test_deal_search_filters_closed_won_by_close_date_and_pages(
    hs: HubSpot, sandbox: SandboxServer
) -> None:
    """CRM search: filters AND-ed in a group, BETWEEN with value/highValue, datetime values as
    epoch milliseconds, sorts, at most 200 a page, paging.next.after, and no more than 10,000
    results for any query:
    https://developers.hubspot.com/docs/guides/api/crm/search"""
    sandbox.admin.reset(seed=False)  # only this test's deals
    company = _company(hs, "Search")
    inside = [_deal(hs, company, str(n), "closedwon", 5) for n in range(3)]
    _deal(hs, company, "1", "closedwon", 40)
    _deal(hs, company, "1", "closedlost", 5)
    now = datetime.now(UTC)
    body = {
        "filterGroups": [{"filters": [
            {"propertyName": "hs_is_closed_won", "operator": "EQ", "value": "true"},
            {"propertyName": "closedate", "operator": "BETWEEN",
             "value": str(int((now - timedelta(days=30)).timestamp() * 1000)),
             "highValue": str(int(now.timestamp() * 1000))},
        ]}],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        "properties": ["amount"], "limit": 2,
    }  # fmt: skip
    first = hs.crm.deals.search_api.do_search(body)
    assert first.total == 3 and [d.id for d in first.results] == inside[:2]
    second = hs.crm.deals.search_api.do_search({**body, "after": first.paging.next.after})
    assert [d.id for d in second.results] == inside[2:] and second.paging is None
    with pytest.raises(DealsApiException) as too_far:
        hs.crm.deals.search_api.do_search({**body, "limit": 200, "after": "9900"})
    assert too_far.value.status == 400
    with pytest.raises(DealsApiException):
        hs.crm.deals.search_api.do_search({**body, "limit": 201})


def test_deal_to_company_associations_batch_read(hs: HubSpot) -> None:
    """Associations v4 batch read: each deal's companies with their association types
    (341 deal-to-company, 5 primary); at most 1,000 ids a request:
    https://developers.hubspot.com/docs/guides/api/crm/associations/associations-v4
    https://developers.hubspot.com/changelog/bug-fix-batch-read-limit-for-hubspot-associations-api"""
    company = _company(hs, "Linked")
    deal = _deal(hs, company, "1", "closedwon", 1)
    orphan = _deal(hs, None, "1", "closedwon", 1)
    reply = hs.crm.associations.v4.batch_api.get_page(
        "deals", "companies", {"inputs": [{"id": deal}, {"id": orphan}]}
    )
    linked = {r._from.id: r.to for r in reply.results}
    assert [str(t.to_object_id) for t in linked[deal]] == [company]
    assert 5 in {t.type_id for t in linked[deal][0].association_types}
    assert linked.get(orphan, []) == []
    with pytest.raises(AssociationsApiException) as too_many:
        hs.crm.associations.v4.batch_api.get_page(
            "deals", "companies", {"inputs": [{"id": deal}] * 1001}
        )
    assert too_many.value.status == 400


def test_portal_currencies_and_deal_currency_code(hs: HubSpot, sandbox: SandboxServer) -> None:
    """The account-info API names companyCurrency and additionalCurrencies; with more than
    one, a deal's amount is in its deal_currency_code:
    https://developers.hubspot.com/docs/api-reference/latest/account/account-information/get-account-details
    https://knowledge.hubspot.com/object-settings/set-up-multiple-currencies"""
    session = requests.Session()
    session.verify, session.trust_env = str(sandbox.ca_path), False
    headers = {"Authorization": "Bearer sandbox-hubspot-token"}

    def details() -> dict[str, Any]:
        reply = session.get(f"{sandbox.url}/account-info/v3/details", headers=headers, timeout=10)
        return dict(reply.json())

    assert (details()["companyCurrency"], details()["additionalCurrencies"]) == ("EUR", [])
    sandbox.admin.enable_currencies("hubspot", "EUR", {"USD": 1.25})
    assert details()["additionalCurrencies"] == ["USD"]
    deal = _deal(hs, _company(hs, "Dollar"), "5", "closedwon", 1, deal_currency_code="USD")
    read = hs.crm.deals.basic_api.get_by_id(deal, properties=["deal_currency_code", "amount"])
    assert (read.properties["deal_currency_code"], read.properties["amount"]) == ("USD", "5")
    with pytest.raises(DealsApiException):
        _deal(hs, None, "5", "closedwon", 1, deal_currency_code="JPY")
