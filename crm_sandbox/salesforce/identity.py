"""Salesforce as an OpenID Connect provider: users of the org sign in to other applications.

As Salesforce documents it (help.salesforce.com, "OpenID Connect Discovery Endpoint",
"OAuth 2.0 Web Server Flow for Web App Integration", "UserInfo Endpoint", "ID Token"):

- ``GET /.well-known/openid-configuration``: the discovery document (issuer, endpoints,
  ``jwks_uri`` ``/id/keys``, RS256);
- ``GET /services/oauth2/authorize``: the web server flow's authorization request
  (``response_type=code``, ``client_id``, ``redirect_uri``, ``scope``, ``state``, ``nonce``);
  the sandbox shows its users to choose from where Salesforce shows its login form, then
  redirects to ``redirect_uri`` with ``code`` and ``state``;
- ``POST /services/oauth2/token`` with ``grant_type=authorization_code`` (in ``oauth.py``):
  an access token and, for the ``openid`` scope, an RS256 ``id_token`` whose ``sub`` is the
  user's identity URL ``/id/<org id>/<user id>``;
- ``GET /services/oauth2/userinfo``: the user's claims with ``organization_id``;
- ``GET /id/keys``: the public keys (JWKS).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from crm_sandbox import signin
from crm_sandbox.replies import Reply
from crm_sandbox.routing import Routes
from crm_sandbox.salesforce.calls import Call

AUTHORIZE = "/services/oauth2/authorize"
SCOPES = ("openid", "email", "profile", "id", "api", "refresh_token")

routes = Routes()


@routes.get("/.well-known/openid-configuration", "oidc.discovery", public=True)
def discovery(call: Call) -> Reply:
    base = call.instance_url()
    return Reply(
        200,
        {
            "issuer": base,
            "authorization_endpoint": base + AUTHORIZE,
            "token_endpoint": base + "/services/oauth2/token",
            "userinfo_endpoint": base + "/services/oauth2/userinfo",
            "jwks_uri": base + "/id/keys",
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code", "token", "token id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "nonce",
                "email",
                "email_verified",
                "name",
                "preferred_username",
            ],
        },
    )


@routes.get("/id/keys", "oidc.jwks", public=True)
def jwks(call: Call) -> Reply:
    return Reply(200, signin.public_jwks())


def _request_error(call: Call, args: Mapping[str, str]) -> Reply | None:
    """Salesforce answers a bad client id or redirect URI on a page, anything else by
    redirecting with ``error`` (RFC 6749 section 4.1.2.1)."""
    if args.get("client_id") != call.controls.credentials.salesforce_client_id:
        return signin.error_page(400, "error=invalid_client_id: client identifier invalid")
    if not signin.valid_redirect_uri(args.get("redirect_uri", "")):
        return signin.error_page(400, "error=redirect_uri_mismatch")
    if args.get("response_type") != "code":
        return signin.redirect_with(args["redirect_uri"], error="unsupported_response_type",
                                    state=args.get("state"))  # fmt: skip
    return None


@routes.get(AUTHORIZE, "oidc.authorize", public=True)
def authorize(call: Call) -> Reply:
    return signin.sign_in_page(
        "salesforce", "Log in to Salesforce", AUTHORIZE, call.request.args,
        ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce"),
        lambda v: _request_error(call, v),
    )  # fmt: skip


@routes.post(AUTHORIZE, "oidc.authorize_submit", public=True)
def authorize_submit(call: Call) -> Reply:
    return signin.sign_in_answer("salesforce", call.request.form, lambda v: _request_error(call, v))


def identity_url(base: str, who: signin.Person) -> str:
    return f"{base}/id/{who.org}/{who.user_id}"


def authorization_code(call: Call, access_token: str) -> dict[str, str] | None:
    """The token reply's extra fields for a code, or None when the code is not valid
    (Salesforce: ``invalid_grant`` "expired authorization code")."""
    form = call.request.form
    basic = call.request.authorization
    client_id = form.get("client_id") or (basic.username if basic else "")
    secret = form.get("client_secret") or (basic.password if basic else "")
    creds = call.controls.credentials
    if client_id != creds.salesforce_client_id or secret != creds.salesforce_client_secret:
        return None
    grant = signin.redeem_code(form.get("code", ""), client_id, form.get("redirect_uri"))
    if grant is None:
        return None
    signin.remember_token(access_token, grant)
    base, now = call.instance_url(), int(time.time())
    extra = {"id": identity_url(base, grant.person), "scope": grant.scope}
    if "openid" in grant.scope.split():
        claims = {"iss": base, "sub": identity_url(base, grant.person), "aud": client_id,
                  "iat": now, "exp": now + 300, "email": grant.person.email,
                  "email_verified": True, "name": grant.person.name,
                  "preferred_username": grant.person.email}  # fmt: skip
        if grant.nonce:
            claims["nonce"] = grant.nonce
        extra["id_token"] = signin.sign_id_token(claims)
    return extra


@routes.get("/services/oauth2/userinfo", "oidc.userinfo", public=True)
def userinfo(call: Call) -> Reply:
    header = call.request.headers.get("Authorization", "")
    grant = signin.token_grant(header.removeprefix("Bearer ").strip())
    if grant is None:
        return Reply(403, "Bad_OAuth_Token", content_type="text/plain")
    who, base = grant.person, call.instance_url()
    given, _, family = who.name.partition(" ")
    return Reply(
        200,
        {
            "sub": identity_url(base, who),
            "user_id": who.user_id,
            "organization_id": who.org,
            "preferred_username": who.email,
            "name": who.name,
            "given_name": given,
            "family_name": family,
            "email": who.email,
            "email_verified": True,
            "active": True,
            "user_type": "STANDARD",
            "groups": list(who.groups),
        },
    )
