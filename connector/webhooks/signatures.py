"""Signature schemes of the survey tools that post to cx360, verified over the raw body.

Every verifier takes a list of secrets (rotation: the old and the new secret are accepted
while the sender switches), compares in constant time and raises :class:`InvalidSignature`
or :class:`StaleTimestamp`; both mean "401, do not trust this body".

- Typeform: ``Typeform-Signature: sha256=<base64 HMAC-SHA256(secret, body)>``.
- Delighted: ``X-Delighted-Webhook-Signature: sha256=<hex HMAC-SHA256(api key, body)>``.
  Delighted does not publish the scheme; this is what a public integration verifies and a
  third-party summary of the docs describes, so a bare hex digest is accepted as well.
- Standard Webhooks (``generic``): ``webhook-signature: v1,<base64 HMAC-SHA256(key,
  id.timestamp.body)>`` (space-separated list), key = base64 of the ``whsec_`` secret,
  timestamps more than 5 minutes off rejected.

The ``standardwebhooks`` package implements the last scheme too, but reads the wall clock
itself, takes one secret per instance and lets malformed headers escape as ``ValueError``;
the spec is short enough to follow here with an injected clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

TYPEFORM_HEADER = "Typeform-Signature"
DELIGHTED_HEADER = "X-Delighted-Webhook-Signature"
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
STANDARD_TOLERANCE = timedelta(minutes=5)
_WHSEC_PREFIX = "whsec_"


class SignatureError(Exception):
    """The request cannot be trusted; ``reason`` is safe to show to the sender."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidSignature(SignatureError):
    """Signature missing, malformed or made with none of the configured secrets."""


class StaleTimestamp(SignatureError):
    """Signed correctly, but too far from now: a replay or a badly wrong clock."""


def parse_secrets(value: str | Sequence[str] | None) -> list[str]:
    """Secrets from a comma-separated setting (or a list), blanks dropped."""
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip() for item in items if item and item.strip()]


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _matches_any(candidates: Sequence[bytes], given: bytes) -> bool:
    # No early exit: the time taken does not depend on which secret (if any) matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate, given)
    return matched


def _require_secrets(secrets: Sequence[str], provider: str) -> None:
    if not secrets:
        raise InvalidSignature(f"No {provider} webhook secret is configured; cannot verify.")


# --- Typeform -------------------------------------------------------------------------------


def sign_typeform(body: bytes, secret: str) -> str:
    """The ``Typeform-Signature`` header value Typeform sends for ``body``."""
    digest = _hmac_sha256(secret.encode(), body)
    return "sha256=" + base64.b64encode(digest).decode("ascii")


def verify_typeform(body: bytes, header: str | None, secrets: Sequence[str]) -> None:
    """Raise :class:`InvalidSignature` unless ``header`` signs ``body`` with one secret."""
    _require_secrets(secrets, "Typeform")
    if not header:
        raise InvalidSignature(f"Missing {TYPEFORM_HEADER} header.")
    expected = [sign_typeform(body, secret).encode() for secret in secrets]
    if not _matches_any(expected, header.strip().encode()):
        raise InvalidSignature(f"{TYPEFORM_HEADER} does not match the body.")


# --- Delighted ------------------------------------------------------------------------------


def sign_delighted(body: bytes, secret: str) -> str:
    """The ``X-Delighted-Webhook-Signature`` value for ``body`` (scheme as inferred above)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_delighted(body: bytes, header: str | None, secrets: Sequence[str]) -> None:
    """Raise :class:`InvalidSignature` unless ``header`` signs ``body`` with one API key."""
    _require_secrets(secrets, "Delighted")
    if not header:
        raise InvalidSignature(f"Missing {DELIGHTED_HEADER} header.")
    value = header.strip()
    scheme, sep, digest = value.partition("=")
    if sep and scheme.lower() != "sha256":
        raise InvalidSignature(f"{DELIGHTED_HEADER}: unsupported scheme {scheme!r}.")
    given = (digest if sep else value).lower().encode()
    expected = [
        hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode() for secret in secrets
    ]
    if not _matches_any(expected, given):
        raise InvalidSignature(f"{DELIGHTED_HEADER} does not match the body.")


# --- Standard Webhooks ----------------------------------------------------------------------


@dataclass(frozen=True)
class StandardWebhookMessage:
    """The verified headers of a Standard Webhooks delivery."""

    id: str
    timestamp: int


def standard_webhook_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (the prefix is optional)."""
    encoded = secret.removeprefix(_WHSEC_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("A Standard Webhooks secret is base64 after 'whsec_'.") from exc
    if not key:
        raise ValueError("A Standard Webhooks secret must not be empty.")
    return key


def sign_standard_webhook(msg_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """One ``v1,<base64>`` entry of the ``webhook-signature`` header."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(_hmac_sha256(standard_webhook_key(secret), signed)).decode()


def verify_standard_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    now: datetime,
    tolerance: timedelta = STANDARD_TOLERANCE,
) -> StandardWebhookMessage:
    """Check a Standard Webhooks delivery; return its id and timestamp when it is genuine.

    ``headers`` is looked up case-insensitively when it is a plain dict; Werkzeug's headers
    already are. Secrets that are not valid ``whsec_`` base64 are skipped; with none usable the
    delivery is rejected like an unsigned one.
    """
    keys: list[bytes] = []
    for secret in secrets:
        try:
            keys.append(standard_webhook_key(secret))
        except ValueError:
            continue
    if not keys:
        raise InvalidSignature("No usable Standard Webhooks secret is configured; cannot verify.")
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get(STANDARD_ID_HEADER, "").strip()
    raw_timestamp = lowered.get(STANDARD_TIMESTAMP_HEADER, "").strip()
    signature_header = lowered.get(STANDARD_SIGNATURE_HEADER, "").strip()
    missing = [
        name
        for name, value in (
            (STANDARD_ID_HEADER, msg_id),
            (STANDARD_TIMESTAMP_HEADER, raw_timestamp),
            (STANDARD_SIGNATURE_HEADER, signature_header),
        )
        if not value
    ]
    if missing:
        raise InvalidSignature(f"Missing header(s): {', '.join(missing)}.")
    if not raw_timestamp.isdigit():
        raise InvalidSignature(f"{STANDARD_TIMESTAMP_HEADER} must be integer Unix seconds.")
    timestamp = int(raw_timestamp)
    signed = f"{msg_id}.{raw_timestamp}.".encode() + body
    expected = [base64.b64encode(_hmac_sha256(key, signed)) for key in keys]
    given = [
        entry.partition(",")[2].encode()
        for entry in signature_header.split()
        if entry.partition(",")[0] == "v1"
    ]
    if not any(_matches_any(expected, signature) for signature in given):
        raise InvalidSignature(f"{STANDARD_SIGNATURE_HEADER} does not match the body.")
    # Checked after the signature so an attacker learns nothing from a forged timestamp.
    if abs(now.timestamp() - timestamp) > tolerance.total_seconds():
        raise StaleTimestamp(
            f"{STANDARD_TIMESTAMP_HEADER} is more than "
            f"{int(tolerance.total_seconds() // 60)} minutes away from the server clock."
        )
    return StandardWebhookMessage(id=msg_id, timestamp=timestamp)
