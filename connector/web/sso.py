"""Signing people in to the pages with their company's identity, through Authlib.

Three kinds of provider, each turned on by listing it in ``CX360_SSO_PROVIDERS``:

- ``salesforce``: Salesforce as OpenID Connect provider (discovery at
  ``CX360_SSO_SALESFORCE_LOGIN_URL`` + ``/.well-known/openid-configuration``, the web server
  flow with ``openid email profile``); the ID token is checked against the published keys,
  and the UserInfo endpoint says the user's ``organization_id``.
- ``hubspot``: "Sign in with HubSpot": OAuth authorization code, then the documented token
  metadata call ``GET /oauth/v1/access-tokens/{token}`` for the user's email and ``hub_id``.
- ``oidc``: any OpenID Connect provider by its discovery URL (Okta, Microsoft Entra ID, Google
  Workspace, ...), named on the button by ``CX360_OIDC_NAME``.

Who may sign in (``decide``): a user of the connected Salesforce org
(``CX360_SSO_SALESFORCE_ORG_ID``) or HubSpot portal (``CX360_SSO_HUBSPOT_PORTAL_ID``), or
anyone whose verified email is in one of ``CX360_SSO_ALLOWED_DOMAINS``; nobody else. Admins:
the emails in ``CX360_SSO_ADMIN_EMAILS`` and members of ``CX360_SSO_ADMIN_GROUPS`` (the
provider's ``groups`` claim). Everyone signed in may view and rate; admins also see sync
health. API keys stay for machines and scripts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app
from flask_babel import gettext as _

from connector.config import ConfigError

PERSON = "cx360.web.person"
PROVIDERS = ("salesforce", "hubspot", "oidc")
OIDC_SCOPE = "openid email profile"


@dataclass(frozen=True)
class Person:
    """Who signed in: their email is the rater of every rating they give."""

    email: str
    name: str
    provider: str
    org: str = ""  # Salesforce org id or HubSpot portal id
    admin: bool = False

    def to_session(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_session(cls, value: object) -> Person | None:
        if not isinstance(value, dict):
            return None
        try:
            return cls(**value)
        except TypeError:
            return None


@dataclass(frozen=True)
class Identity:
    """What the provider said about the user, before cx360 decides."""

    email: str
    name: str
    provider: str
    org: str = ""
    email_verified: bool = True
    groups: tuple[str, ...] = ()


class Refused(Exception):
    """The provider signed the user in, but cx360 does not let them in; says why."""


def _words(value: object) -> set[str]:
    return {w.strip().lower() for w in str(value or "").split(",") if w.strip()}


def enabled(config: Mapping[str, Any]) -> tuple[str, ...]:
    asked = _words(config.get("CX360_SSO_PROVIDERS"))
    return tuple(p for p in PROVIDERS if p in asked)


def label(config: Mapping[str, Any], provider: str) -> str:
    if provider == "oidc":
        return str(config.get("CX360_OIDC_NAME") or "OpenID Connect")
    return {"salesforce": "Salesforce", "hubspot": "HubSpot"}[provider]


def decide(config: Mapping[str, Any], identity: Identity) -> Person:
    """Let the user in as a ``Person``, or raise ``Refused`` saying why (the rules above)."""
    email = identity.email.strip().lower()
    if not email or "@" not in email:
        raise Refused(_("%(provider)s did not tell cx360 your email address.",
                        provider=label(config, identity.provider)))  # fmt: skip
    if not identity.email_verified:
        raise Refused(_("Your email address %(email)s is not verified with %(provider)s.",
                        email=email, provider=label(config, identity.provider)))  # fmt: skip
    connected = {
        "salesforce": str(config.get("CX360_SSO_SALESFORCE_ORG_ID") or ""),
        "hubspot": str(config.get("CX360_SSO_HUBSPOT_PORTAL_ID") or ""),
    }.get(identity.provider, "")
    of_connected_org = bool(connected) and identity.org == connected
    of_allowed_domain = email.rpartition("@")[2] in _words(config.get("CX360_SSO_ALLOWED_DOMAINS"))
    if not (of_connected_org or of_allowed_domain):
        raise Refused(
            _("%(email)s may not sign in here: only users of the connected %(provider)s "
              "account or of the allowed email domains may. Ask your cx360 administrator.",
              email=email, provider=label(config, identity.provider))
        )  # fmt: skip
    admin = email in _words(config.get("CX360_SSO_ADMIN_EMAILS")) or bool(
        {g.lower() for g in identity.groups} & _words(config.get("CX360_SSO_ADMIN_GROUPS"))
    )
    return Person(email, identity.name or email, identity.provider, identity.org, admin)


# -- the providers through Authlib -----------------------------------------------------------


REQUIRED = {
    "salesforce": ("CX360_SSO_SALESFORCE_CLIENT_ID", "CX360_SSO_SALESFORCE_CLIENT_SECRET"),
    "hubspot": ("CX360_SSO_HUBSPOT_CLIENT_ID", "CX360_SSO_HUBSPOT_CLIENT_SECRET"),
    "oidc": ("CX360_OIDC_DISCOVERY_URL", "CX360_OIDC_CLIENT_ID", "CX360_OIDC_CLIENT_SECRET"),
}


def check_settings(config: Mapping[str, Any]) -> None:
    """A provider turned on without what it needs is a configuration error, named."""
    asked = _words(config.get("CX360_SSO_PROVIDERS"))
    unknown = sorted(asked - set(PROVIDERS))
    if unknown:
        raise ConfigError(f"CX360_SSO_PROVIDERS: unknown provider(s) {', '.join(unknown)}; "
                          f"use {', '.join(PROVIDERS)}")  # fmt: skip
    for provider in enabled(config):
        missing = [name for name in REQUIRED[provider] if not config.get(name)]
        if missing:
            raise ConfigError(f"CX360_SSO_PROVIDERS includes {provider}, but "
                              f"{', '.join(missing)} is not set")  # fmt: skip


def init_app(app: Flask) -> None:
    """Register the enabled providers with Authlib's Flask client."""
    config = app.config
    check_settings(config)
    oauth = OAuth(app)
    verify: Any = config.get("CX360_CRM_CA_BUNDLE") or True
    common = {"verify": verify, "trust_env": False, "timeout": 15}
    for provider in enabled(config):
        if provider == "salesforce":
            login = str(config.get("CX360_SSO_SALESFORCE_LOGIN_URL")).rstrip("/")
            oauth.register(
                "salesforce",
                client_id=config.get("CX360_SSO_SALESFORCE_CLIENT_ID"),
                client_secret=config.get("CX360_SSO_SALESFORCE_CLIENT_SECRET"),
                server_metadata_url=f"{login}/.well-known/openid-configuration",
                client_kwargs={"scope": OIDC_SCOPE, **common},
            )
        elif provider == "hubspot":
            api = str(config.get("HUBSPOT_BASE_URL")).rstrip("/")
            oauth.register(
                "hubspot",
                client_id=config.get("CX360_SSO_HUBSPOT_CLIENT_ID"),
                client_secret=config.get("CX360_SSO_HUBSPOT_CLIENT_SECRET"),
                authorize_url=config.get("CX360_SSO_HUBSPOT_AUTHORIZE_URL"),
                access_token_url=f"{api}/oauth/v1/token",
                client_kwargs={"scope": "oauth", "token_endpoint_auth_method":
                               "client_secret_post", **common},
            )  # fmt: skip
        else:
            oauth.register(
                "oidc",
                client_id=config.get("CX360_OIDC_CLIENT_ID"),
                client_secret=config.get("CX360_OIDC_CLIENT_SECRET"),
                server_metadata_url=config.get("CX360_OIDC_DISCOVERY_URL"),
                client_kwargs={"scope": OIDC_SCOPE + " groups"
                               if config.get("CX360_SSO_ADMIN_GROUPS") else OIDC_SCOPE, **common},
            )  # fmt: skip
    app.extensions["cx360.sso"] = oauth


def client(provider: str) -> Any:
    oauth: OAuth = current_app.extensions["cx360.sso"]
    return oauth.create_client(provider)


def identity_from_token(provider: str, token: dict[str, Any]) -> Identity:
    """Who the provider signed in, from its token and the documented user calls."""
    remote = client(provider)
    if provider == "hubspot":
        api = str(current_app.config.get("HUBSPOT_BASE_URL")).rstrip("/")
        reply = remote.get(f"{api}/oauth/v1/access-tokens/{token['access_token']}",
                           withhold_token=True)  # fmt: skip
        reply.raise_for_status()
        info = reply.json()
        return Identity(str(info.get("user") or ""), str(info.get("user") or ""), provider,
                        str(info.get("hub_id") or ""))  # fmt: skip
    claims: dict[str, Any] = dict(token.get("userinfo") or {})  # the checked ID token
    if provider == "salesforce":  # UserInfo names the org; the ID token does not
        claims.update(remote.userinfo(token=token))
    return Identity(
        email=str(claims.get("email") or ""),
        name=str(claims.get("name") or claims.get("preferred_username") or ""),
        provider=provider,
        org=str(claims.get("organization_id") or ""),
        email_verified=claims.get("email_verified") is not False,
        groups=tuple(str(g) for g in claims.get("groups") or ()),
    )
