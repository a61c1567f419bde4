"""HubSpot OAuth v1: an access token for a refresh token or an authorization code (a public
app's client id and secret; codes come from a person signing in, ``identity.py``).

A private app's static token needs no call here; both are checked by ``surface.py``.
"""

from __future__ import annotations

from crm_sandbox.hubspot import identity
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

    grant_type = form.get("grant_type")
    if grant_type not in ("refresh_token", "authorization_code"):
        return refuse("BAD_GRANT_TYPE", "grant_type must be refresh_token or authorization_code")
    if form.get("client_id") != creds.hubspot_client_id:
        return refuse("BAD_CLIENT_ID", "missing or unknown client id")
    if form.get("client_secret") != creds.hubspot_client_secret:
        return refuse("BAD_CLIENT_SECRET", "missing or invalid client secret")
    access_token = call.controls.issue_token("hubspot", lifetime=TOKEN_LIFETIME)
    if grant_type == "authorization_code":  # a person signing in to another app
        if not identity.authorization_code(call, access_token, TOKEN_LIFETIME):
            return refuse("BAD_AUTH_CODE", "missing or unknown auth code")
    elif form.get("refresh_token") != creds.hubspot_refresh_token:
        return refuse("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
    return Reply(
        200,
        {
            "token_type": "bearer",
            "refresh_token": creds.hubspot_refresh_token,
            "access_token": access_token,
            "expires_in": TOKEN_LIFETIME,
        },
    )
