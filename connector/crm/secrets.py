"""CRM secrets: the environment wins, else a Fernet-encrypted value stored in the database.

The Fernet key is derived (HKDF-SHA256) from ``CX360_SECRET_KEY``. Secret values are never
logged or put into an exception message; errors name the secret, not its value.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.exc import SQLAlchemyError

from connector.crm.errors import FatalCrmError
from connector.storage import Database, StoredSecret

SecretLookup = Callable[[Mapping[str, Any], str], str | None]


def fernet_for(secret_key: str) -> Fernet:
    """The Fernet cipher for stored CRM secrets, derived from ``CX360_SECRET_KEY``."""
    if not secret_key:
        raise FatalCrmError("CX360_SECRET_KEY is empty: stored secrets cannot be used")
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"cx360 stored CRM secrets"
    ).derive(secret_key.encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt_secret(value: str, secret_key: str) -> str:
    return fernet_for(secret_key).encrypt(value.encode("utf-8")).decode("ascii")


def decrypt_secret(name: str, ciphertext: str, secret_key: str) -> str:
    try:
        return fernet_for(secret_key).decrypt(ciphertext.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise FatalCrmError(
            f"stored secret {name} cannot be decrypted with the current CX360_SECRET_KEY; "
            "store it again or set it in the environment",
            kind="auth",
        ) from exc


def _ciphertexts(config: Mapping[str, Any], names: Iterable[str]) -> dict[str, str]:
    """The stored ciphertexts of ``names`` in one query ({} without database or table)."""
    url = config.get("CX360_DATABASE_URL")
    if not url:
        return {}
    table = StoredSecret.__table__
    database = Database(str(url))
    try:
        with database.engine.connect() as connection:
            rows = connection.execute(table.select().where(table.c.name.in_(list(names)))).all()
    except SQLAlchemyError:
        return {}  # no database or no table yet: nothing stored
    finally:
        database.dispose()
    return {row.name: row.ciphertext for row in rows}


def stored_secret(config: Mapping[str, Any], name: str) -> str | None:
    """The stored secret ``name`` decrypted, or None (no database, no table, no row)."""
    secret_key = str(config.get("CX360_SECRET_KEY") or "")
    if not secret_key:
        return None
    ciphertext = _ciphertexts(config, [name]).get(name)
    return decrypt_secret(name, ciphertext, secret_key) if ciphertext else None


def stored_secret_names(config: Mapping[str, Any], names: Iterable[str]) -> set[str]:
    """Which of ``names`` are stored (nothing is decrypted)."""
    return set(_ciphertexts(config, names))


def store_secret(config: Mapping[str, Any], name: str, value: str) -> None:
    """Encrypt and store (insert or replace) the secret ``name``."""
    ciphertext = encrypt_secret(value, str(config.get("CX360_SECRET_KEY") or ""))
    database = Database(str(config["CX360_DATABASE_URL"]))
    try:
        with database.session() as session:
            row = session.get(StoredSecret, name)
            if row is None:
                session.add(StoredSecret(name=name, ciphertext=ciphertext))
            else:
                row.ciphertext = ciphertext
    finally:
        database.dispose()


def secret(
    config: Mapping[str, Any], name: str, *, lookup: SecretLookup = stored_secret
) -> str | None:
    """The secret ``name``: the configuration (environment, .env) first, then stored."""
    value = str(config.get(name) or "").strip()
    return value or lookup(config, name)
