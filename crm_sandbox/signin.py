"""The identity-provider side of the sandbox: people who sign in, codes, and the signing key.

Both CRMs let their users sign in to other applications: Salesforce as an OpenID Connect
provider (``salesforce/identity.py``), HubSpot through the OAuth authorization code flow with
the token-information call (``hubspot/identity.py``). What they share lives here: the sandbox's
users (people of this org/portal, and one of another company, so refusals can be tested), the
page where a user picks who they are (in place of the vendor's own login form), one-time
authorization codes, the access tokens issued to a person, and the RSA key that signs
Salesforce ID tokens (published as a JWKS).
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from crm_sandbox.replies import Reply

SALESFORCE_ORG_ID = "00D5g000004sBoxEAE"  # the org the integration user belongs to
OTHER_SALESFORCE_ORG_ID = "00D5g000007OthrEAA"
HUBSPOT_PORTAL_ID = 4036001
OTHER_HUBSPOT_PORTAL_ID = 9900001
HUBSPOT_APP_ID = 3600360
CODE_SECONDS = 600  # Salesforce: an authorization code is valid for 15 minutes; HubSpot: 5
PERSON_TOKEN_SECONDS = 1800
SIGNING_KEY_ID = "sandbox-1"


@dataclass(frozen=True)
class Person:
    """A user of a CRM who can sign in to another app with it."""

    user_id: str
    email: str
    name: str
    org: str  # Salesforce org id or HubSpot portal id (as text)
    groups: tuple[str, ...] = ()


PEOPLE: dict[str, tuple[Person, ...]] = {
    "salesforce": (
        Person("0055g00000AnnaBAAR", "anna.berger@cx360-demo.example", "Anna Berger",
               SALESFORCE_ORG_ID, ("CX Managers",)),
        Person("0055g00000BenVoAAR", "ben.vogt@cx360-demo.example", "Ben Vogt",
               SALESFORCE_ORG_ID, ("Sales",)),
        Person("0055g00000EveOtAAR", "eve.other@other-company.example", "Eve Other",
               OTHER_SALESFORCE_ORG_ID, ("Sales",)),
    ),
    "hubspot": (
        Person("7101", "anna.berger@cx360-demo.example", "Anna Berger",
               str(HUBSPOT_PORTAL_ID), ()),
        Person("7102", "ben.vogt@cx360-demo.example", "Ben Vogt", str(HUBSPOT_PORTAL_ID), ()),
        Person("7199", "eve.other@other-company.example", "Eve Other",
               str(OTHER_HUBSPOT_PORTAL_ID), ()),
    ),
}  # fmt: skip


@dataclass
class Grant:
    person: Person
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    expires_at: float


@dataclass
class _Store:
    lock: threading.Lock = field(default_factory=threading.Lock)
    codes: dict[str, Grant] = field(default_factory=dict)
    tokens: dict[str, Grant] = field(default_factory=dict)


_STORE = _Store()
_SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def person(crm: str, user_id: str) -> Person | None:
    return next((p for p in PEOPLE[crm] if p.user_id == user_id), None)


def issue_code(grant: Grant) -> str:
    code = secrets.token_urlsafe(24)
    with _STORE.lock:
        _STORE.codes[code] = grant
    return code


def redeem_code(code: str, client_id: str, redirect_uri: str | None) -> Grant | None:
    """The grant of a code, once: unknown, expired, reused or another client's code is None.

    ``redirect_uri`` must be the one the code was issued for (RFC 6749 section 4.1.3)."""
    with _STORE.lock:
        grant = _STORE.codes.pop(code, None)
    if grant is None or grant.expires_at < time.time() or grant.client_id != client_id:
        return None
    if redirect_uri is not None and redirect_uri != grant.redirect_uri:
        return None
    return grant


def remember_token(token: str, grant: Grant) -> None:
    with _STORE.lock:
        _STORE.tokens[token] = grant


def token_grant(token: str) -> Grant | None:
    with _STORE.lock:
        grant = _STORE.tokens.get(token)
    return grant if grant and grant.expires_at >= time.time() else None


def sign_id_token(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, _SIGNING_KEY, algorithm="RS256", headers={"kid": SIGNING_KEY_ID})


def public_jwks() -> dict[str, Any]:
    jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(
        _SIGNING_KEY.public_key(), as_dict=True
    )
    return {"keys": [{**jwk, "kid": SIGNING_KEY_ID, "use": "sig", "alg": "RS256"}]}


def redirect_with(uri: str, **params: str | None) -> Reply:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    separator = "&" if urlsplit(uri).query else "?"
    return Reply(302, None, headers={"Location": f"{uri}{separator}{query}"})


def valid_redirect_uri(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment


def choose_page(
    title: str, action: str, fields: Mapping[str, str], people: tuple[Person, ...]
) -> Reply:
    """The sandbox's stand-in for the vendor's login form: pick the user you are."""
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items()
    )
    buttons = "".join(
        f'<li><button type="submit" name="user_id" value="{html.escape(p.user_id)}">'
        f"{html.escape(p.name)} &lt;{html.escape(p.email)}&gt;</button></li>"
        for p in people
    )
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{html.escape(title)}</title></head><body><main><h1>{html.escape(title)}</h1>"
        "<p>Sandbox CRM: choose the user you sign in as.</p>"
        f'<form method="post" action="{html.escape(action)}">{hidden}<ul>{buttons}</ul></form>'
        "</main></body></html>"
    )
    return Reply(200, page, content_type="text/html; charset=utf-8")


def error_page(status: int, message: str) -> Reply:
    page = f"<!doctype html><title>Error</title><p>{html.escape(message)}</p>"
    return Reply(status, page, content_type="text/html; charset=utf-8")


RequestCheck = Callable[[Mapping[str, str]], Reply | None]


def sign_in_page(
    crm: str, title: str, action: str, values: Mapping[str, str], keep: tuple[str, ...],
    check: RequestCheck,
) -> Reply:  # fmt: skip
    """The authorization request: refused by ``check``, or the page to pick a user on, which
    posts the request's parameters (``keep``) back to ``action``."""
    refused = check(values)
    if refused is not None:
        return refused
    fields: dict[str, str] = {k: values[k] for k in keep if k in values}
    return choose_page(title, action, fields, PEOPLE[crm])


def sign_in_answer(crm: str, values: Mapping[str, str], check: RequestCheck) -> Reply:
    """The picked user: a one-time code, sent back to the app's ``redirect_uri``."""
    refused = check(values)
    if refused is not None:
        return refused
    who = person(crm, values.get("user_id", ""))
    if who is None:
        return error_page(400, "error=access_denied: unknown user")
    grant = Grant(who, values["client_id"], values["redirect_uri"], values.get("scope", ""),
                  values.get("nonce"), time.time() + CODE_SECONDS)  # fmt: skip
    return redirect_with(values["redirect_uri"], code=issue_code(grant), state=values.get("state"))
