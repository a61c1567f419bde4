"""Client exceptions -> the project's errors, for both client libraries (table-driven)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connector.crm.errors import CALL_OUTCOMES, FatalCrmError, RetriableCrmError, call_outcome
from connector.crm.hubspot import translate_api_exception
from connector.crm.salesforce import translate_salesforce_error

RETRY, FATAL = RetriableCrmError, FatalCrmError
Refused, Malformed, General = (
    SalesforceRefusedRequest,
    SalesforceMalformedRequest,
    SalesforceGeneralError,
)
Expired, NotFound = SalesforceExpiredSession, SalesforceResourceNotFound


def _hubspot(
    status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> ContactsApiException:
    exc = ContactsApiException(status=status, reason="reason")
    exc.body = json.dumps(body).encode() if body is not None else None
    exc.headers = headers
    return exc


@pytest.mark.parametrize(
    ("exc", "kind", "retry_after", "fatal_kind"),
    [
        (
            _hubspot(429, {"errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"},
                     {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}),
            RETRY, 10.0, None,
        ),
        (_hubspot(429, {"errorType": "RATE_LIMIT"}, {"Retry-After": "3"}), RETRY, 3.0, None),
        (_hubspot(429, {"policyName": "DAILY"}, {}), RETRY, 3600.0, None),
        (
            _hubspot(429, {"policyName": "SECONDLY"},
                     {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}),
            RETRY, 1.0, None,
        ),
        (_hubspot(502, None, {"Retry-After": "7"}), RETRY, 7.0, None),
        (_hubspot(503), RETRY, None, None),
        (_hubspot(401, {"category": "INVALID_AUTHENTICATION"}), FATAL, None, "auth"),
        (_hubspot(403, {"category": "MISSING_SCOPES"}), FATAL, None, "permission"),
        (_hubspot(400, {"category": "VALIDATION_ERROR"}), FATAL, None, "request"),
        (PropertiesApiException(status=0, reason="SSLError\nCERTIFICATE_VERIFY_FAILED"),
         FATAL, None, "config"),
        (PropertiesApiException(status=0, reason="ProtocolError"), RETRY, None, None),
    ],
)  # fmt: skip
def test_given_a_hubspot_exception_when_translated_then_it_is_the_project_error(
    exc: Exception, kind: type, retry_after: float | None, fatal_kind: str | None
) -> None:
    error = translate_api_exception(exc, "contacts.batch.update")

    assert type(error) is kind
    assert getattr(error, "retry_after", None) == retry_after
    assert getattr(error, "kind", None) == fatal_kind
    assert str(error).startswith("HubSpot contacts.batch.update")


def _sf(cls: type, status: int, code: str, message: str = "m") -> Exception:
    content = [{"errorCode": code, "message": message, "fields": []}]
    return cls("https://x/services/data/v59.0/composite/sobjects", status, "composite", content)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("exc", "retry_after_header", "kind", "retry_after", "fatal_kind"),
    [
        (_sf(Refused, 403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
         None, RETRY, 3600.0, None),
        (_sf(Refused, 403, "REQUEST_LIMIT_EXCEEDED",
             "ConcurrentPerOrgLongTxn Limit exceeded."), None, RETRY, 60.0, None),
        (_sf(Malformed, 400, "UNABLE_TO_LOCK_ROW"), None, RETRY, None, None),
        (_sf(General, 503, "SERVER_UNAVAILABLE"), 30.0, RETRY, 30.0, None),
        (_sf(General, 500, "UNKNOWN_EXCEPTION"), None, RETRY, None, None),
        (_sf(Expired, 401, "INVALID_SESSION_ID"), None, FATAL, None, "auth"),
        (_sf(Refused, 403, "INSUFFICIENT_ACCESS"), None, FATAL, None,
         "permission"),
        (_sf(Malformed, 400, "INVALID_FIELD"), None, FATAL, None, "field"),
        (_sf(NotFound, 404, "NOT_FOUND"), None, FATAL, None, "request"),
        (requests.ConnectionError("refused"), None, RETRY, None, None),
        (requests.exceptions.SSLError("bad cert"), None, FATAL, None, "config"),
    ],
)  # fmt: skip
def test_given_a_salesforce_exception_when_translated_then_it_is_the_project_error(
    exc: Exception,
    retry_after_header: float | None,
    kind: type,
    retry_after: float | None,
    fatal_kind: str | None,
) -> None:
    error = translate_salesforce_error(exc, "write", retry_after_header)

    assert type(error) is kind
    assert getattr(error, "retry_after", None) == retry_after
    assert getattr(error, "kind", None) == fatal_kind


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [
        (200, None, "ok"),
        (204, None, "ok"),
        (429, "RATE_LIMIT", "rate_limited"),
        (403, "REQUEST_LIMIT_EXCEEDED", "rate_limited"),  # Salesforce's API request limit
        (403, "INSUFFICIENT_ACCESS", "client_error"),
        (404, "OBJECT_NOT_FOUND", "client_error"),
        (503, None, "server_error"),
        (None, "CONNECTION", "connection_error"),
    ],
)
def test_given_a_crm_reply_when_classified_then_one_of_the_few_outcomes(
    status: int | None, code: str | None, outcome: str
):
    assert call_outcome(status, code) == outcome
    assert outcome in CALL_OUTCOMES
