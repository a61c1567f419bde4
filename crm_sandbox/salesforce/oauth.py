"""Salesforce OAuth 2.0: the token endpoint, for the client credentials and JWT bearer flows.

Both answer as Salesforce does: an access token with the instance URL and the identity URL of
the user the integration runs as; a refusal is 400 with ``error`` and ``error_description``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography import x509

from crm_sandbox.replies import Reply
from crm_sandbox.routing import Routes
from crm_sandbox.salesforce import identity
from crm_sandbox.salesforce.calls import Call

AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

routes = Routes()


class Refused(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.reply = Reply(400, {"error": error, "error_description": description})


def client_credentials(call: Call) -> str:
    """The username the connected app runs as, once its client id and secret check out."""
    form, creds, basic = call.request.form, call.controls.credentials, call.request.authorization
    client_id = form.get("client_id") or (basic.username if basic else None)
    secret = form.get("client_secret") or (basic.password if basic else None)
    if client_id != creds.salesforce_client_id or secret != creds.salesforce_client_secret:
        raise Refused("invalid_client", "invalid client credentials")
    return creds.salesforce_username


def jwt_bearer(call: Call) -> str:
    """The assertion's subject, once the RS256 signature, audience, issuer and expiry check
    out against the certificate registered for the connected app."""
    creds = call.controls.credentials
    assertion = call.request.form.get("assertion", "")
    if not creds.salesforce_jwt_public_key:
        raise Refused("invalid_grant", "invalid assertion")
    base = call.instance_url()
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(
            assertion,
            _public_key(creds.salesforce_jwt_public_key),
            algorithms=["RS256"],
            audience=[*AUDIENCES, base, base + "/"],
            options={"require": ["exp", "iss", "sub", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise Refused("invalid_grant", "expired authorization code") from None
    except jwt.InvalidAudienceError:
        raise Refused("invalid_grant", "audience is invalid") from None
    except jwt.PyJWTError:
        raise Refused("invalid_grant", "invalid assertion") from None
    if header.get("alg") != "RS256":
        raise Refused("invalid_grant", "invalid assertion")
    if claims.get("iss") != creds.salesforce_client_id:
        raise Refused("invalid_client_id", "client identifier invalid")
    if claims.get("sub") != creds.salesforce_username:
        raise Refused("invalid_grant", "user hasn't approved this consumer")
    return str(claims["sub"])


GRANTS: dict[str, Callable[[Call], str]] = {
    "client_credentials": client_credentials,
    JWT_BEARER: jwt_bearer,
}


@routes.post("/services/oauth2/token", "oauth.token", public=True)
def token(call: Call) -> Reply:
    if call.request.form.get("grant_type") == "authorization_code":
        return _person_token(call)
    grant = GRANTS.get(call.request.form.get("grant_type", ""))
    try:
        if grant is None:
            raise Refused("unsupported_grant_type", "grant type not supported")
        username = grant(call)
    except Refused as refused:
        return refused.reply
    access_token = call.controls.issue_token("salesforce")
    issued = str(int(time.time() * 1000))
    base = call.instance_url()
    return Reply(
        200,
        {
            "access_token": access_token,
            "instance_url": base,
            # The identity URL https://<host>/id/<org id>/<user id> (developer.salesforce.com,
            # "Using Identity URLs"): the org this connection writes to.
            "id": f"{base}/id/{call.controls.credentials.salesforce_org_id}/"
            f"{call.data.default_owner or username}",
            "token_type": "Bearer",
            "issued_at": issued,
            "signature": secrets.token_urlsafe(32),
            "scope": "api",
        },
    )


def _person_token(call: Call) -> Reply:
    """The web server flow: a person signed in to another app (``identity.py``)."""
    access_token = call.controls.issue_token("salesforce")
    extra = identity.authorization_code(call, access_token)
    if extra is None:
        return Refused("invalid_grant", "expired authorization code").reply
    reply = {
        "access_token": access_token,
        "instance_url": call.instance_url(),
        "token_type": "Bearer",
        "issued_at": str(int(time.time() * 1000)),
        "signature": secrets.token_urlsafe(32),
        **extra,
    }
    return Reply(200, reply)


def _public_key(pem: str) -> Any:
    if "BEGIN CERTIFICATE" in pem:
        return x509.load_pem_x509_certificate(pem.encode()).public_key()
    return pem
