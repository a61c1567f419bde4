"""Who is looking at a page: API keys pasted into the login form, kept in the session cookie.

A visitor signs in by pasting an API key; the session keeps only the key's row id (the key
itself never leaves the login request). A visitor may add a second key: a read key shows the
dashboard, and rating customers needs both ``read`` (to look customers up) and ``ingest`` (to
store the rating), which one admin key or a read key plus an ingest key give. Each request
loads the keys again, so a revoked key stops working at once. A request with
``Authorization: Bearer <key>`` uses that key alone and no session (handy for scripts that
fetch the weekly summary).

Every POST carries a CSRF token tied to the session; the session cookie is HttpOnly and
SameSite=Lax.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from babel.lists import format_list
from flask import abort, g, redirect, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.auth import GRANTS, KeyGrant, bearer_token, find_api_key
from connector.storage import ApiKey
from connector.web.sso import PERSON, Person

KEY_IDS = "cx360.web.key_ids"
CSRF = "cx360.web.csrf"
MAX_KEYS = 3
F = TypeVar("F", bound=Callable[..., Any])


# What a person signed in with the company's identity may do: view and rate; admins all.
PERSON_GRANTS = frozenset({"read", "ingest"})


@dataclass(frozen=True)
class Visitor:
    keys: tuple[KeyGrant, ...]
    via_bearer: bool = False
    person: Person | None = None

    @property
    def grants(self) -> frozenset[str]:
        by_keys = {scope for key in self.keys for scope in GRANTS[key.scope]}
        if self.person is not None:
            by_keys |= GRANTS["admin"] if self.person.admin else PERSON_GRANTS
        return frozenset(by_keys)

    def may(self, *scopes: str) -> bool:
        return set(scopes) <= self.grants

    @property
    def signed_in(self) -> bool:
        return bool(self.keys) or self.person is not None


def _signed_in(row: ApiKey) -> KeyGrant:
    return KeyGrant(id=row.id, scope=row.scope, prefix=row.prefix, name=row.name)


def load_visitor(db: Session) -> Visitor:
    """The visitor of this request (cached on ``g``)."""
    if "web_visitor" in g:
        return cast(Visitor, g.web_visitor)
    token = bearer_token()
    if token is not None:
        row = find_api_key(db, token)
        visitor = Visitor(keys=(row,) if row else (), via_bearer=True)
    else:
        ids = [int(i) for i in session.get(KEY_IDS, []) if isinstance(i, int)]
        rows: list[ApiKey] = (
            list(db.scalars(select(ApiKey).where(ApiKey.id.in_(ids), ApiKey.revoked_at.is_(None))))
            if ids
            else []
        )
        visitor = Visitor(
            keys=tuple(_signed_in(r) for r in sorted(rows, key=lambda r: r.id)),
            person=Person.from_session(session.get(PERSON)),
        )
        if len(visitor.keys) != len(ids):
            session[KEY_IDS] = [k.id for k in visitor.keys]
    g.web_visitor = visitor
    return visitor


def sign_in(key: KeyGrant) -> None:
    """Add the key to the session; a new CSRF token marks the change of privilege."""
    ids = [i for i in session.get(KEY_IDS, []) if isinstance(i, int) and i != key.id]
    session[KEY_IDS] = [*ids, key.id][-MAX_KEYS:]
    session[CSRF] = secrets.token_urlsafe(32)
    g.pop("web_visitor", None)


def sign_in_person(person: Person) -> None:
    """A person signed in with the company's identity; a new CSRF token marks the change."""
    session[PERSON] = person.to_session()
    session[CSRF] = secrets.token_urlsafe(32)
    g.pop("web_visitor", None)


def sign_out() -> None:
    session.clear()
    g.pop("web_visitor", None)


def csrf_token() -> str:
    token = session.get(CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF] = token
    return token


def check_csrf() -> None:
    """Reject a state-changing request whose form lacks this session's token."""
    expected = session.get(CSRF)
    sent = request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, sent):
        abort(400, description=_("The form expired or did not come from this site. Reload it."))


def safe_next(target: str | None, default: str) -> str:
    """A local path to go to after login; anything pointing elsewhere becomes ``default``."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target:
        return default
    return target


def require(*scopes: str, load: Callable[[], Session]) -> Callable[[F], F]:
    """Redirect to the login page without keys; 403 when the keys lack one of ``scopes``."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            visitor = load_visitor(load())
            if not visitor.signed_in:
                if visitor.via_bearer:
                    abort(401, description=_("The API key is not valid."))
                return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
            if not visitor.may(*scopes):
                abort(403, description=needs(scopes, visitor.keys))
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorator


def needs(scopes: Iterable[str], keys: Iterable[KeyGrant]) -> str:
    have = ", ".join(sorted({k.scope for k in keys})) or _("no key")
    wanted = format_list(sorted(scopes), locale=get_locale() or "en")
    return _(
        "This page needs a key granting %(wanted)s; you are signed in with: %(have)s. "
        "Sign in with an additional key (or one admin key).",
        wanted=wanted,
        have=have,
    )
