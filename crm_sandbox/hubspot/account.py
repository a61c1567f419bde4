"""The account information API: which HubSpot account (portal) the token belongs to.

As HubSpot documents it (developers.hubspot.com/docs/api-reference/latest/account/
account-information/get-account-details, "Retrieve account details"):
``GET /account-info/v3/details`` answers ``portalId`` (the account's unique id, also called
the hub id), ``accountType``, ``timeZone``, ``companyCurrency``, ``additionalCurrencies``,
``utcOffset``, ``utcOffsetMilliseconds``, ``uiDomain`` and ``dataHostingLocation``. Each
sandbox is one portal; its id is ``Credentials.hubspot_portal_id``.
"""

from __future__ import annotations

from crm_sandbox.hubspot.calls import Call
from crm_sandbox.replies import Reply
from crm_sandbox.routing import Routes

routes = Routes()


@routes.get("/account-info/v3/details", "account_info.details")
def details(call: Call) -> Reply:
    return Reply(
        200,
        {
            "portalId": call.controls.credentials.hubspot_portal_id,
            "accountType": "SANDBOX",
            "timeZone": "UTC",
            "companyCurrency": call.data.company_currency,
            "additionalCurrencies": list(call.data.additional_currencies),
            "utcOffset": "+00:00",
            "utcOffsetMilliseconds": 0,
            "uiDomain": "app.hubspot.com",
            "dataHostingLocation": "eu1",
        },
    )
