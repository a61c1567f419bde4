"""Rate limits and injected faults, as the real clients see them."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException
from hubspot.crm.contacts.exceptions import ServiceException, UnauthorizedException
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from crm_sandbox import SandboxServer

BEN = "ben.weber@acme-maschinenbau.de"
RATE_HEADERS = (
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
    "X-HubSpot-RateLimit-Daily",
    "X-HubSpot-RateLimit-Daily-Remaining",
)


def read_ben(hs: HubSpot) -> Any:
    return hs.crm.contacts.basic_api.get_by_id_with_http_info(BEN, id_property="email")


# ------------------------------------------------------------------------ HubSpot
def test_given_any_reply_when_received_then_rate_limit_headers_present(hs: HubSpot) -> None:
    # developers.hubspot.com changelog 2018-11-06 (checked with the search tool): responses
    # carry X-HubSpot-RateLimit-Daily and -Daily-Remaining alongside the per-interval headers
    _, status, headers = read_ben(hs)
    assert status == 200
    assert all(name in headers for name in RATE_HEADERS)
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"


def test_given_ten_second_limit_when_exceeded_then_429_with_policy_and_headers(
    sandbox: SandboxServer, hs: HubSpot
) -> None:
    sandbox.admin.set_limits(hubspot_ten_second=3, reset_usage=True)
    remaining = [read_ben(hs)[2]["X-HubSpot-RateLimit-Remaining"] for _ in range(3)]
    with pytest.raises(ApiException) as raised:
        read_ben(hs)
    body = json.loads(raised.value.body)
    # community.hubspot.com quoting the API usage guidelines (search tool): the 429 body is
    # {"status":"error","message","errorType":"RATE_LIMIT","correlationId","policyName"}
    assert raised.value.status == 429
    assert (body["status"], body["errorType"], body["policyName"]) == (
        "error",
        "RATE_LIMIT",
        "TEN_SECONDLY_ROLLING",
    )
    assert body["correlationId"] and body["message"]
    assert remaining == ["2", "1", "0"]
    assert raised.value.headers["X-HubSpot-RateLimit-Max"] == "3"
    assert sandbox.admin.stats()["rate_limited"]["hubspot"] == 1


def test_given_daily_limit_when_exceeded_then_429_daily_policy(
    sandbox: SandboxServer, hs: HubSpot
) -> None:
    sandbox.admin.set_limits(hubspot_daily=2, reset_usage=True)
    read_ben(hs)
    _, _, headers = read_ben(hs)
    assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    with pytest.raises(ApiException) as raised:
        read_ben(hs)
    assert json.loads(raised.value.body)["policyName"] == "DAILY"


def test_given_burst_of_two_429s_when_called_three_times_then_third_succeeds(
    sandbox: SandboxServer, hs: HubSpot
) -> None:
    sandbox.admin.set_faults("hubspot", burst_429=2)
    statuses = []
    for _ in range(3):
        try:
            statuses.append(read_ben(hs)[1])
        except ApiException as exc:
            statuses.append(exc.status)
    assert statuses == [429, 429, 200]


def test_given_burst_429_when_refused_then_no_requests_remaining_reported(
    sandbox: SandboxServer, hs: HubSpot
) -> None:
    # X-HubSpot-RateLimit-Remaining is "the number of API requests still allowed" in the
    # interval (developers.hubspot.com/changelog/2018-11-06-rate-limit-information-headers-
    # will-be-included-in-http-responses); a 429 for the interval means none are
    sandbox.admin.set_faults("hubspot", burst_429=1)
    with pytest.raises(ApiException) as raised:
        read_ben(hs)
    assert raised.value.status == 429
    assert raised.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"


def test_given_search_limit_used_up_when_searched_then_429_while_other_calls_pass(
    sandbox: SandboxServer, hs: HubSpot
) -> None:
    # the CRM search endpoints are limited per second per account, separately from the
    # general limits (developers.hubspot.com/changelog/crm-search-api-rate-limit-increase);
    # a budget of 0 makes "used up" independent of the clock
    from hubspot.crm.contacts import PublicObjectSearchRequest

    sandbox.admin.set_limits(hubspot_search_per_second=0, reset_usage=True)
    request = PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "email", "operator": "EQ", "value": BEN}]}]
    )
    with pytest.raises(ApiException) as raised:
        hs.crm.contacts.search_api.do_search(public_object_search_request=request)
    body = json.loads(raised.value.body)
    assert (raised.value.status, body["errorType"], body["policyName"]) == (
        429,
        "RATE_LIMIT",
        "SECONDLY",
    )
    assert read_ben(hs)[1] == 200  # the general limit is untouched
    sandbox.admin.set_limits(hubspot_search_per_second=None, reset_usage=True)
    found = hs.crm.contacts.search_api.do_search(public_object_search_request=request)
    assert [r.properties["email"] for r in found.results] == [BEN]


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_error_rate_one_when_called_then_5xx(
    sandbox: SandboxServer, hs: HubSpot, sf: Salesforce, crm: str
) -> None:
    sandbox.admin.set_faults(crm, error_rate=1.0, error_status=502)
    if crm == "hubspot":
        with pytest.raises(ServiceException) as hub_raised:
            read_ben(hs)
        assert hub_raised.value.status == 502
    else:
        with pytest.raises(SalesforceGeneralError) as sf_raised:
            sf.query("SELECT Id FROM Contact")
        assert sf_raised.value.status == 502
        assert sf_raised.value.content[0]["errorCode"] == "UNKNOWN_EXCEPTION"


def test_given_error_rate_half_when_called_many_times_then_some_fail_deterministically(
    sandbox: SandboxServer, hs: HubSpot
) -> None:
    sandbox.admin.set_faults("hubspot", error_rate=0.5)
    outcomes = []
    for _ in range(20):
        try:
            outcomes.append(read_ben(hs)[1])
        except ServiceException as exc:
            outcomes.append(exc.status)
    assert 0 < outcomes.count(500) < 20 and outcomes.count(200) + outcomes.count(500) == 20


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_outage_window_when_called_then_503_until_it_ends(
    sandbox: SandboxServer, hs: HubSpot, sf: Salesforce, crm: str
) -> None:
    sandbox.admin.set_faults(crm, outage_seconds=0.3)
    if crm == "hubspot":
        with pytest.raises(ServiceException) as raised:
            read_ben(hs)
        assert raised.value.status == 503
    else:
        with pytest.raises(SalesforceGeneralError) as sf_raised:
            sf.query("SELECT Id FROM Contact")
        assert sf_raised.value.status == 503
    time.sleep(0.35)
    if crm == "hubspot":
        assert read_ben(hs)[1] == 200
    else:
        assert sf.query("SELECT Id FROM Contact")["totalSize"] > 0


def test_given_outage_until_cleared_when_cleared_then_answers_again(
    sandbox: SandboxServer, hs: HubSpot
) -> None:
    sandbox.admin.set_faults("both", outage=True)
    with pytest.raises(ServiceException):
        read_ben(hs)
    sandbox.admin.clear_faults()
    assert read_ben(hs)[1] == 200


def test_given_latency_when_called_then_reply_takes_at_least_that_long(
    sandbox: SandboxServer, hs: HubSpot
) -> None:
    sandbox.admin.set_faults("hubspot", latency_ms=120)
    started = time.perf_counter()
    read_ben(hs)
    assert time.perf_counter() - started >= 0.12


def test_given_expired_sessions_when_hubspot_called_then_401_until_new_token(
    sandbox: SandboxServer, hs: HubSpot
) -> None:
    sandbox.admin.expire_sessions("hubspot")
    with pytest.raises(UnauthorizedException) as raised:
        read_ben(hs)
    assert json.loads(raised.value.body)["category"] == "EXPIRED_AUTHENTICATION"
    fresh = HubSpot(host=sandbox.url, ssl_ca_cert=str(sandbox.ca_path)).oauth.tokens_api.create(
        grant_type="refresh_token",
        client_id="sandbox-hubspot-client",
        client_secret="sandbox-hubspot-secret",
        refresh_token="sandbox-hubspot-refresh",
    )
    client = HubSpot(
        access_token=fresh.access_token, host=sandbox.url, ssl_ca_cert=str(sandbox.ca_path)
    )
    assert read_ben(client)[1] == 200


# --------------------------------------------------------------------- Salesforce
def test_given_daily_allocation_used_when_called_then_403_request_limit_exceeded(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    sandbox.admin.set_limits(salesforce_daily=2, reset_usage=True)
    sf.query("SELECT Id FROM Contact")
    sf.query("SELECT Id FROM Contact")
    assert sf.api_usage["api-usage"].used == 2
    with pytest.raises(SalesforceRefusedRequest) as raised:
        sf.query("SELECT Id FROM Contact")
    # CRM_API_NOTES: REQUEST_LIMIT_EXCEEDED is 403 (Salesforce does not use 429)
    assert raised.value.status == 403
    assert raised.value.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert sandbox.admin.stats()["rate_limited"]["salesforce"] == 1


def test_given_expired_sessions_when_salesforce_called_then_401_invalid_session_id(
    sandbox: SandboxServer, sf: Salesforce, http: requests.Session
) -> None:
    sandbox.admin.expire_sessions("salesforce")
    with pytest.raises(SalesforceExpiredSession) as raised:
        sf.query("SELECT Id FROM Contact")
    # CRM_API_NOTES: a 401 body must be a JSON array; the client reads [0]['errorCode']
    assert raised.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    from tests.sandbox.conftest import salesforce_token

    renewed = Salesforce(
        instance_url=sandbox.url, session_id=salesforce_token(sandbox, http), session=http
    )
    assert renewed.query("SELECT Id FROM Contact")["totalSize"] > 0


def test_given_lock_row_burst_when_collection_written_then_records_fail_then_succeed(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    ben = sf.query(f"SELECT Id FROM Contact WHERE Email = '{BEN}'")["records"][0]["Id"]
    body = {
        "allOrNone": False,
        "records": [{"attributes": {"type": "Contact"}, "id": ben, "Title": "CTO"}],
    }
    sandbox.admin.set_faults("salesforce", lock_row_burst=1)
    first = sf.restful("composite/sobjects", method="PATCH", json=body)
    second = sf.restful("composite/sobjects", method="PATCH", json=body)
    assert first[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert second[0]["success"] is True


def test_given_lock_row_burst_when_single_record_updated_then_400_unable_to_lock_row(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    ben = sf.query(f"SELECT Id FROM Contact WHERE Email = '{BEN}'")["records"][0]["Id"]
    sandbox.admin.set_faults("salesforce", lock_row_burst=1)
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Contact.update(ben, {"Title": "CTO"})
    assert raised.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"


def test_given_search_delay_when_contact_just_created_then_search_finds_it_only_later(
    sandbox: SandboxServer, hs: HubSpot
) -> None:
    from hubspot.crm.contacts import PublicObjectSearchRequest, SimplePublicObjectInputForCreate

    # CRM_API_NOTES: newly written records appear in search only after a delay
    sandbox.admin.set_faults("hubspot", search_delay_ms=300)
    hs.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "late@example.com"})
    )
    request = PublicObjectSearchRequest(
        filter_groups=[
            {"filters": [{"propertyName": "email", "operator": "EQ", "value": "late@example.com"}]}
        ]
    )
    assert hs.crm.contacts.search_api.do_search(request).total == 0
    time.sleep(0.35)
    assert hs.crm.contacts.search_api.do_search(request).total == 1
