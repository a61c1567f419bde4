"""HubSpot OAuth v1: an access token for a refresh token (a public app's client id and secret).

A private app's static token needs no call here; both are checked by ``surface.py``.
"""

from __future__ import annotations

from crm_sandbox.hubspot.calls import Call
from crm_sandbox.replies import Reply, correlation_id
from crm_sandbox.routing import Routes

TOKEN_LIFETIME = 1800

routes = Routes()


@routes.post("/oauth/v1/token", "oauth.token", public=True)
def token(call: Call) -> Reply:
    form, creds = call.request.form, call.controls.credentials

    def refuse(status: str, message: str) -> Reply:
        return Reply(400, {"status": status, "message": message, "correlationId": correlation_id()})

    if form.get("grant_type") != "refresh_token":
        return refuse("BAD_GRANT_TYPE", "grant_type must be refresh_token")
    if form.get("client_id") != creds.hubspot_client_id:
        return refuse("BAD_CLIENT_ID", "missing or unknown client id")
    if form.get("client_secret") != creds.hubspot_client_secret:
        return refuse("BAD_CLIENT_SECRET", "missing or invalid client secret")
    if form.get("refresh_token") != creds.hubspot_refresh_token:
        return refuse("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
    access_token = call.controls.issue_token("hubspot", lifetime=TOKEN_LIFETIME)
    return Reply(
        200,
        {
            "token_type": "bearer",
            "refresh_token": creds.hubspot_refresh_token,
            "access_token": access_token,
            "expires_in": TOKEN_LIFETIME,
        },
    )
