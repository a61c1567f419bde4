"""Signing in with HubSpot: the OAuth authorization code flow and the token-information call.

As HubSpot documents it (developers.hubspot.com, "OAuth tokens API" guide and "Retrieve OAuth
token metadata", ``GET /oauth/v1/access-tokens/{token}``):

- the app sends the user to ``/oauth/authorize`` with ``client_id``, ``redirect_uri``,
  ``scope`` and ``state`` (HubSpot serves it on app.hubspot.com; the sandbox on its one host);
  the sandbox shows its users where HubSpot shows its login and account picker, then
  redirects to ``redirect_uri`` with ``code`` (and ``state``);
- ``POST /oauth/v1/token`` with ``grant_type=authorization_code``, ``client_id``,
  ``client_secret``, ``redirect_uri`` and ``code`` (in ``oauth.py``) gives access and refresh
  tokens;
- ``GET /oauth/v1/access-tokens/{token}`` answers who the token belongs to: ``user`` (the
  user's email), ``user_id``, ``hub_id`` (the portal), ``hub_domain``, ``app_id``, ``scopes``,
  ``token_type`` and ``expires_in``; an unknown token is 404.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from crm_sandbox import signin
from crm_sandbox.hubspot.calls import Call
from crm_sandbox.replies import Reply, correlation_id
from crm_sandbox.routing import Routes

AUTHORIZE = "/oauth/authorize"

routes = Routes()


def _request_error(call: Call, args: Mapping[str, str]) -> Reply | None:
    if args.get("client_id") != call.controls.credentials.hubspot_client_id:
        return signin.error_page(400, "Authorization failed: unknown client_id")
    if not signin.valid_redirect_uri(args.get("redirect_uri", "")):
        return signin.error_page(400, "Authorization failed: redirect_uri is not valid")
    return None


@routes.get(AUTHORIZE, "oauth.authorize", public=True)
def authorize(call: Call) -> Reply:
    return signin.sign_in_page(
        "hubspot", "Log in to HubSpot", AUTHORIZE, call.request.args,
        ("client_id", "redirect_uri", "scope", "state"), lambda v: _request_error(call, v),
    )  # fmt: skip


@routes.post(AUTHORIZE, "oauth.authorize_submit", public=True)
def authorize_submit(call: Call) -> Reply:
    return signin.sign_in_answer("hubspot", call.request.form, lambda v: _request_error(call, v))


def authorization_code(call: Call, access_token: str, lifetime: float) -> bool:
    """Redeem the form's code for ``access_token``; False when the code is not valid."""
    form = call.request.form
    grant = signin.redeem_code(form.get("code", ""), form.get("client_id", ""),
                               form.get("redirect_uri"))  # fmt: skip
    if grant is None:
        return False
    grant.expires_at = time.time() + lifetime
    signin.remember_token(access_token, grant)
    return True


@routes.get("/oauth/v1/access-tokens/<token>", "oauth.token_info", public=True)
def token_info(call: Call, token: str) -> Reply:
    grant = signin.token_grant(token)
    controls = call.controls
    if grant is None and controls.check_token("hubspot", token) == "ok":
        # an access token cx360 got for the app's refresh token: the app's scopes
        return Reply(
            200,
            {
                "token": token,
                "user": "integration@sandbox.example",
                "hub_domain": f"portal-{controls.credentials.hubspot_portal_id}.sandbox.example",
                "scopes": list(controls.credentials.hubspot_scopes),
                "hub_id": controls.credentials.hubspot_portal_id,
                "app_id": signin.HUBSPOT_APP_ID,
                "expires_in": 1800,
                "user_id": 2_020_202,
                "token_type": "access",
            },
        )
    if grant is None:
        missing = {"status": "error", "message": "Token not found", "category": "OBJECT_NOT_FOUND"}
        return Reply(404, {**missing, "correlationId": correlation_id()})
    who = grant.person
    return Reply(
        200,
        {
            "token": token,
            "user": who.email,
            "hub_domain": f"portal-{who.org}.sandbox.example",
            "scopes": grant.scope.split() or ["oauth"],
            "hub_id": int(who.org),
            "app_id": signin.HUBSPOT_APP_ID,
            "expires_in": max(0, int(grant.expires_at - time.time())),
            "user_id": int(who.user_id),
            "token_type": "access",
        },
    )
