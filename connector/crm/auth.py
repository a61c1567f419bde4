"""Getting CRM access tokens for real orgs.

Salesforce: OAuth 2.0 JWT bearer flow or client-credentials flow against a configurable token
URL (simple-salesforce's own login helpers build ``https://{domain}.salesforce.com`` and cannot
reach a My Domain token URL on another host or a local sandbox). HubSpot: a private-app token
as is, or an OAuth refresh token exchanged for an access token.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import requests

from connector.crm.errors import FatalCrmError, RetriableCrmError
from connector.crm.secrets import SecretLookup, secret, stored_secret

_TIMEOUT = 30.0


@dataclass(frozen=True)
class SalesforceToken:
    access_token: str
    instance_url: str
    #: The identity URL ``https://<host>/id/<org id>/<user id>`` the token reply names in
    #: ``id`` (developer.salesforce.com/docs/platform/mobile-sdk/guide/
    #: oauth-using-identity-urls.html).
    identity_url: str = ""

    @property
    def org_id(self) -> str | None:
        """The org the token belongs to: the identity URL's ``/id/<org id>/<user id>``."""
        return self._identity()[0]

    @property
    def user_id(self) -> str | None:
        """The user the token acts as (the connected app's run-as user)."""
        return self._identity()[1]

    def _identity(self) -> tuple[str | None, str | None]:
        """(org id, user id) from the identity URL; None for a part it does not name."""
        parts = self.identity_url.rstrip("/").split("/")
        if len(parts) < 3 or parts[-3] != "id":
            return None, None
        return parts[-2] or None, parts[-1] or None

    def __repr__(self) -> str:  # never show the token
        return f"SalesforceToken(instance_url={self.instance_url!r}, access_token=***)"


def salesforce_token_url(config: Mapping[str, Any]) -> str:
    url = str(config.get("SALESFORCE_TOKEN_URL") or "").strip()
    if url:
        return url
    instance = str(config.get("SALESFORCE_INSTANCE_URL") or "").strip().rstrip("/")
    if not instance:
        raise FatalCrmError("SALESFORCE_INSTANCE_URL (or SALESFORCE_TOKEN_URL) is not set")
    return f"{instance}/services/oauth2/token"


def _private_key(config: Mapping[str, Any], lookup: SecretLookup) -> str:
    path = str(config.get("SALESFORCE_PRIVATE_KEY_FILE") or "").strip()
    if path:
        try:
            return Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise FatalCrmError(
                f"SALESFORCE_PRIVATE_KEY_FILE cannot be read: {exc.strerror}", kind="auth"
            ) from exc
    stored = secret(config, "SALESFORCE_PRIVATE_KEY", lookup=lookup)
    if not stored:
        raise FatalCrmError(
            "JWT bearer flow needs SALESFORCE_PRIVATE_KEY_FILE (or a stored "
            "SALESFORCE_PRIVATE_KEY)",
            kind="auth",
        )
    return stored


def jwt_assertion(
    client_id: str, username: str, audience: str, private_key: str, now: float | None = None
) -> str:
    """The signed JWT for Salesforce's JWT bearer flow (RS256, valid three minutes)."""
    issued = int(now if now is not None else time.time())
    claims = {"iss": client_id, "sub": username, "aud": audience, "exp": issued + 180}
    try:
        return jwt.encode(claims, private_key, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise FatalCrmError(f"the JWT private key cannot sign: {exc}", kind="auth") from exc


def salesforce_token_request(
    config: Mapping[str, Any], lookup: SecretLookup = stored_secret
) -> dict[str, str]:
    """The form body for the configured flow (``SALESFORCE_AUTH``)."""
    flow = str(config.get("SALESFORCE_AUTH") or "jwt").strip().lower()
    client_id = str(config.get("SALESFORCE_CLIENT_ID") or "").strip()
    if not client_id:
        raise FatalCrmError("SALESFORCE_CLIENT_ID is not set", kind="auth")
    if flow == "client_credentials":
        client_secret = secret(config, "SALESFORCE_CLIENT_SECRET", lookup=lookup)
        if not client_secret:
            raise FatalCrmError("SALESFORCE_CLIENT_SECRET is not set", kind="auth")
        return {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        }
    if flow == "jwt":
        username = str(config.get("SALESFORCE_USERNAME") or "").strip()
        if not username:
            raise FatalCrmError("SALESFORCE_USERNAME is not set (JWT bearer flow)", kind="auth")
        audience = str(config.get("SALESFORCE_AUDIENCE") or "https://login.salesforce.com")
        assertion = jwt_assertion(client_id, username, audience, _private_key(config, lookup))
        return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    raise FatalCrmError(
        f"SALESFORCE_AUTH={flow!r}: expected jwt or client_credentials", kind="config"
    )


def _token_reply(reply: requests.Response, what: str) -> dict[str, Any]:
    if reply.status_code == 429 or reply.status_code >= 500:
        retry_after = reply.headers.get("Retry-After")
        raise RetriableCrmError(
            f"{what} token endpoint answered {reply.status_code}",
            retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
            status=reply.status_code,
        )
    try:
        body = reply.json()
    except ValueError:
        body = {}
    if reply.status_code >= 300 or not isinstance(body, dict) or "access_token" not in body:
        error = body.get("error", "") if isinstance(body, dict) else ""
        detail = body.get("error_description", "") if isinstance(body, dict) else ""
        raise FatalCrmError(
            f"{what} login failed ({reply.status_code} {error}: {detail})".strip(),
            kind="auth",
            code=error or None,
            status=reply.status_code,
        )
    return body


def fetch_salesforce_token(
    config: Mapping[str, Any],
    session: requests.Session,
    lookup: SecretLookup = stored_secret,
) -> SalesforceToken:
    """Log in with the configured flow; the reply's instance_url unless configured."""
    url = salesforce_token_url(config)
    form = salesforce_token_request(config, lookup)
    try:
        reply = session.post(url, data=form, timeout=_TIMEOUT)
    except requests.RequestException as exc:
        raise RetriableCrmError(
            f"Salesforce token endpoint {url} unreachable: {type(exc).__name__}"
        ) from exc
    body = _token_reply(reply, "Salesforce")
    instance = str(config.get("SALESFORCE_INSTANCE_URL") or "").strip() or body.get(
        "instance_url", ""
    )
    if not instance:
        raise FatalCrmError("no instance URL: set SALESFORCE_INSTANCE_URL", kind="config")
    return SalesforceToken(body["access_token"], instance.rstrip("/"), str(body.get("id") or ""))


def fetch_hubspot_token(
    config: Mapping[str, Any],
    session: requests.Session,
    lookup: SecretLookup = stored_secret,
) -> str:
    """A private-app token as configured, or an access token for the OAuth refresh token."""
    token = secret(config, "HUBSPOT_ACCESS_TOKEN", lookup=lookup)
    refresh = secret(config, "HUBSPOT_REFRESH_TOKEN", lookup=lookup)
    if token and not refresh:
        return token
    if not refresh:
        raise FatalCrmError(
            "set HUBSPOT_ACCESS_TOKEN (private app) or HUBSPOT_REFRESH_TOKEN with "
            "HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET (OAuth app)",
            kind="auth",
        )
    client_id = str(config.get("HUBSPOT_CLIENT_ID") or "").strip()
    client_secret = secret(config, "HUBSPOT_CLIENT_SECRET", lookup=lookup)
    if not client_id or not client_secret:
        raise FatalCrmError(
            "HUBSPOT_REFRESH_TOKEN needs HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET", kind="auth"
        )
    base = str(config.get("HUBSPOT_BASE_URL") or "https://api.hubapi.com").rstrip("/")
    form = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "client_secret": client_secret,
        "refresh_token": refresh,
    }
    try:
        reply = session.post(f"{base}/oauth/v1/token", data=form, timeout=_TIMEOUT)
    except requests.RequestException as exc:
        raise RetriableCrmError(
            f"HubSpot token endpoint {base}/oauth/v1/token unreachable: {type(exc).__name__}"
        ) from exc
    return str(_token_reply(reply, "HubSpot")["access_token"])


class CrmSession(requests.Session):
    """A session whose own ``verify`` wins over REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE.

    Plain requests lets those environment variables override ``session.verify`` (only a
    per-request ``verify`` beats them), so a configured CA bundle would be silently ignored.
    """

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and self.verify is not True:
            settings["verify"] = self.verify
        return settings


def http_session(config: Mapping[str, Any]) -> requests.Session:
    """A requests session that trusts CX360_CRM_CA_BUNDLE (instead of the default) when set."""
    session = CrmSession()
    bundle = str(config.get("CX360_CRM_CA_BUNDLE") or "").strip()
    if bundle:
        session.verify = bundle
    return session
