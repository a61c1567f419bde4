"""Bearer API keys with scopes. Keys are shown once and stored as SHA-256 hashes.

A key looks like ``cx360_<prefix>_<secret>``: the prefix finds the row, the hash of the whole
key proves it. Keys are random (256 bits), so a fast hash is enough; no key can be recovered
from the database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, current_app, g, request
from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from connector.api.errors import fail
from connector.extensions import database
from connector.storage import ApiKey, utcnow

SCOPES = ("ingest", "read", "admin")
# admin may do everything; read and ingest are separate so a survey tool's key cannot read.
GRANTS = {"admin": {"admin", "read", "ingest"}, "read": {"read"}, "ingest": {"ingest"}}
F = TypeVar("F", bound=Callable[..., Any])


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, scope: str, name: str = "") -> tuple[ApiKey, str]:
    """Store a new key; returns the row and the plaintext key (not kept anywhere)."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    prefix = secrets.token_hex(4)
    key = f"cx360_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(name=name, prefix=prefix, key_hash=hash_key(key), scope=scope)
    session.add(row)
    session.flush()
    return row, key


@dataclass(frozen=True)
class KeyGrant:
    """What a valid key grants, as every request needs it (no ORM object per request)."""

    id: int
    scope: str
    prefix: str
    name: str
    use_recorded: bool = field(default=False, compare=False)  # an UPDATE awaits a commit


_KEY_BY_PREFIX = select(
    ApiKey.id, ApiKey.scope, ApiKey.prefix, ApiKey.name, ApiKey.key_hash, ApiKey.revoked_at,
    ApiKey.last_used_at,
).where(ApiKey.prefix == bindparam("prefix"))  # fmt: skip
_MARK_USED = (
    update(ApiKey).where(ApiKey.id == bindparam("key_id")).values(last_used_at=bindparam("now"))
)
LAST_USED_RESOLUTION = timedelta(minutes=5)


def find_api_key(
    session: Session | Connection, key: str, *, now: datetime | None = None
) -> KeyGrant | None:
    """The grant of a valid, unrevoked key; records its use (to the minute or five) with the
    session's transaction (or at once, on an autocommit connection)."""
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "cx360":
        return None
    row = session.execute(_KEY_BY_PREFIX, {"prefix": parts[1]}).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, hash_key(key)):
        return None
    now = now or utcnow()
    stale = row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION
    if stale:
        session.execute(_MARK_USED, {"key_id": row.id, "now": now})
    return KeyGrant(row.id, row.scope, row.prefix, row.name, use_recorded=stale)


class GrantCache:
    """Grants of keys checked recently, by the key's hash, for ``seconds``.

    A survey tool sends many requests with one key; looking the key up for each was a round
    trip and a fifth of a one-response ingest's work. Only valid keys are kept (a wrong key is
    looked up every time), never the key itself, and a revocation takes effect within
    ``seconds`` (``CX360_API_KEY_CACHE_SECONDS``; 0 looks up every request).
    """

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._grants: dict[str, tuple[float, KeyGrant]] = {}

    def get(self, digest: str) -> KeyGrant | None:
        found = self._grants.get(digest)
        if found is None:
            return None
        if self._clock() >= found[0]:
            del self._grants[digest]
            return None
        return found[1]

    def put(self, digest: str, grant: KeyGrant) -> None:
        if self.seconds <= 0:
            return
        if len(self._grants) >= 10_000:  # a bound, not a policy: keys are few
            self._grants.clear()
        self._grants[digest] = (self._clock() + self.seconds, grant)

    def clear(self) -> None:
        self._grants.clear()


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def check_scope(scope: str) -> None:
    """Abort with 401 without a valid key and 403 when the key does not grant ``scope``."""
    token = bearer_token()
    if token is None:
        fail(401, "Send an API key: Authorization: Bearer <key>.")
    key = _checked_key(token)
    if key is None:
        fail(401, "The API key is not valid.")
    if scope not in GRANTS[key.scope]:
        fail(403, f"This API key has scope {key.scope!r}; this needs {scope!r}.")
    g.api_key = key


def grant_cache() -> GrantCache:
    """The app's ``GrantCache`` (one per process and app)."""
    cache = current_app.extensions.get("cx360.key_grants")
    if cache is None:
        cache = GrantCache(float(current_app.config.get("CX360_API_KEY_CACHE_SECONDS", 10.0)))
        current_app.extensions["cx360.key_grants"] = cache
    return cast(GrantCache, cache)


def _checked_key(token: str) -> KeyGrant | None:
    cache = grant_cache()
    digest = hash_key(token)
    key = cache.get(digest)
    if key is not None:
        return key
    # On a connection of its own in autocommit: the lookup (and the use recorded, at most
    # every five minutes a key) commits by itself, and the view's session starts untouched,
    # so the lookup never holds a transaction of the view open.
    with database().autocommit_engine.connect() as connection:
        key = find_api_key(connection, token)
    if key is not None:
        cache.put(digest, key)
    return key


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_api_key(session: Session, prefix: str, *, now: datetime | None = None) -> ApiKey | None:
    """Mark the key with this id (its prefix) revoked; None when there is no such key."""
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is not None and row.revoked_at is None:
        row.revoked_at = now or utcnow()
    return row


def protect(blueprint: Blueprint, scope: str) -> None:
    """Require ``scope`` for every view of the blueprint, before its input is even parsed.

    A view marked with ``require_scope`` needs its own scope instead, so a refused key is told
    the one scope that would let it in.
    """

    def _check() -> None:
        view = current_app.view_functions.get(request.endpoint or "")
        check_scope(getattr(view, "required_scope", scope))

    blueprint.before_request(_check)


def require_scope(scope: str) -> Callable[[F], F]:
    """Require ``scope`` for one view (for a blueprint whose views need different scopes)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check_scope(scope)
            return view(*args, **kwargs)

        wrapper.required_scope = scope  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorator
