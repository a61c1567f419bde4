"""The CRM adapters' error family, grouped by what the caller does next.

Every exception of simple-salesforce, hubspot-api-client, requests and urllib3 is turned into
one of these inside ``connector/crm/``, so the pipeline above decides by type alone:

- ``RetriableCrmError``: try the same call again later (429, 5xx, locked rows, connection
  errors, Salesforce's request limit); ``retry_after`` is the server's hint in seconds.
- ``FatalCrmError``: retrying will not help until someone changes something (credentials,
  permissions, a missing field, the configuration); ``user_message`` says what to fix.

A single record that the CRM refuses (invalid value, deleted record) is not an exception: the
write methods report it as a ``WriteOutcome`` with status ``rejected``.
"""

from __future__ import annotations

from typing import Any


class CrmError(Exception):
    """Base of the adapters' errors; ``str()`` is safe to log (never holds a secret)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: Any = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        #: The CRM's parsed error body, for the adapter's own use (per-record errors).
        self.details = details


#: The CRMs' own codes for "too many requests" (HubSpot's 429, Salesforce's 403).
RATE_LIMIT_CODES = frozenset({"RATE_LIMIT", "REQUEST_LIMIT_EXCEEDED"})

#: What became of one CRM call, as the metrics count it (a small, fixed label set).
CALL_OUTCOMES = ("ok", "rate_limited", "client_error", "server_error", "connection_error")


def call_outcome(status: int | None, code: str | None = None) -> str:
    """One of ``CALL_OUTCOMES`` for a CRM reply's HTTP status (None: no reply arrived) and
    the CRM's error code where known."""
    if status == 429 or code in RATE_LIMIT_CODES:
        return "rate_limited"
    if status is None:
        return "connection_error"
    if status < 400:
        return "ok"
    return "client_error" if status < 500 else "server_error"


class RetriableCrmError(CrmError):
    """A transient failure: the same call may succeed later."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        status: int | None = None,
        details: Any = None,
    ):
        super().__init__(message, code=code, status=status, details=details)
        self.retry_after = retry_after

    def __str__(self) -> str:
        hint = f" (retry after {self.retry_after:g} s)" if self.retry_after is not None else ""
        return f"{self.message}{hint}"


class FatalCrmError(CrmError):
    """A failure that needs a person: bad credentials, missing permission or field, bad config."""

    def __init__(
        self,
        message: str,
        *,
        kind: str = "config",
        code: str | None = None,
        status: int | None = None,
        details: Any = None,
    ):
        super().__init__(message, code=code, status=status, details=details)
        #: ``auth``, ``permission``, ``field`` or ``config``: which part needs fixing.
        self.kind = kind


class FieldConflictError(FatalCrmError):
    """A field cx360 would create already exists with an incompatible type."""

    def __init__(self, object_name: str, field: str, found: str, expected: str):
        super().__init__(
            f"{object_name}.{field} exists with type {found!r}, but cx360 needs {expected!r}; "
            "it is not changed. Rename or delete that field, or map the metric to another "
            "field in the mapping.",
            kind="field",
            code="FIELD_TYPE_CONFLICT",
        )
        self.object_name = object_name
        self.field = field
        self.found = found
        self.expected = expected
