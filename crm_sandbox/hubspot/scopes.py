"""HubSpot token scopes: what each call needs, what a token holds, and the 403 refusal.

As HubSpot documents them:

- every API lists the scopes it requires (one of them is enough); the CRM objects need
  ``crm.objects.<object>.read`` / ``.write`` (contacts, companies), the properties API
  ``crm.schemas.<object>.read`` / ``.write``; tasks and notes (activities) need the contacts'
  object scopes (developers.hubspot.com/docs/api-reference/latest/crm/activities/tasks/guide,
  "Scope requirements": ``crm.objects.contacts.read``, ``crm.objects.contacts.write``). Where
  the docs name no scope for an activity's properties, the contacts' schema scopes are
  required (strict);
- a call outside the token's scopes is refused with 403 and category ``MISSING_SCOPES``
  (developers.hubspot.com/docs/api-reference/error-handling, "403 Forbidden"), the scopes
  that would do in ``errors[].context.requiredGranularScopes``;
- a private app token's scopes are read with ``POST /oauth/v2/private-apps/get/access-token-
  info`` and body ``{"tokenKey": <token>}`` (developers.hubspot.com/docs/api/private-apps,
  "View private app access token information"): ``userId``, ``hubId``, ``appId``, ``scopes``;
  an OAuth access token's with ``GET /oauth/v1/access-tokens/{token}`` (``identity.py``).
"""

from __future__ import annotations

from typing import Any

from crm_sandbox.hubspot.calls import Call
from crm_sandbox.hubspot.errors import hs_error
from crm_sandbox.replies import HttpError, Reply
from crm_sandbox.routing import Routes

#: The object whose scopes a CRM object type's calls need.
_SCOPE_OBJECT = {"contacts": "contacts", "companies": "companies", "deals": "deals",
                 "tasks": "contacts", "notes": "contacts"}  # fmt: skip
_READS = {"get", "list_page", "batch_read", "search", "list"}
APP_ID = 3_131_313

routes = Routes()


def required_scope(endpoint: str, args: dict[str, Any]) -> str | None:
    """The scope a call to ``endpoint`` (unformatted route name) with path ``args`` needs."""
    family, _, action = endpoint.partition(".")
    kind = "read" if action in _READS else "write"
    object_type = str(args.get("object_type") or "")
    scoped = _SCOPE_OBJECT.get(object_type, "contacts")
    if family in ("properties", "property_groups"):
        return f"crm.schemas.{scoped}.{kind}"
    if family in ("{object_type}", "associations"):
        return f"crm.objects.{scoped}.{kind}"
    return None  # account information: any token of the account


def missing_scopes(required: str) -> HttpError:
    return hs_error(
        403,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. Read more about "
        "required scopes here: https://developers.hubspot.com/scopes.",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": [required]},
            }
        ],
    )


@routes.post("/oauth/v2/private-apps/get/access-token-info", "oauth.private_app_token_info",
             public=True)  # fmt: skip
def private_app_token_info(call: Call) -> Reply:
    body = call.json_object()
    token = str(body.get("tokenKey") or "")
    controls = call.controls
    private_app = token and token == controls.credentials.hubspot_access_token
    if not private_app or controls.check_token("hubspot", token) != "ok":
        return hs_error(401, "INVALID_AUTHENTICATION", "The token is not valid").reply
    return Reply(
        200,
        {
            "userId": 2_020_202,
            "hubId": controls.credentials.hubspot_portal_id,
            "appId": APP_ID,
            "scopes": list(controls.credentials.hubspot_scopes),
        },
    )
