"""HubSpot's error shapes: the error body with its correlation id, the property validation
message, and one batch input's error (a StandardError entry of a 207 reply)."""

from __future__ import annotations

import json
from typing import Any

from crm_sandbox.hubspot.schema import PropertyError
from crm_sandbox.replies import HttpError, Reply, correlation_id

PORTAL_ID = 24_680_135


def hs_error(
    status: int,
    category: str,
    message: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    context: dict[str, list[str]] | None = None,
    sub_category: str | None = None,
) -> HttpError:
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
    }
    if sub_category:
        body["subCategory"] = sub_category
    if errors is not None:
        body["errors"] = errors
    if context is not None:
        body["context"] = context
    return HttpError(Reply(status, body))


def validation_message(problems: list[PropertyError]) -> str:
    details = [
        {
            "isValid": False,
            "message": p.message,
            "error": p.code,
            "name": p.name,
            "localizedErrorMessage": p.message,
            "portalId": PORTAL_ID,
        }
        for p in problems
    ]
    return "Property values were not valid: " + json.dumps(details, separators=(",", ":"))


def error_details(problems: list[PropertyError]) -> list[dict[str, Any]]:
    return [
        {"message": p.message, "code": p.code, "context": {"propertyName": [p.name]}}
        for p in problems
    ]


class InputError(Exception):
    """One batch input that failed; becomes a StandardError entry of a 207 reply."""

    def __init__(
        self,
        category: str,
        message: str,
        context: dict[str, list[str]] | None = None,
        errors: list[dict[str, Any]] | None = None,
        status: int = 400,
    ) -> None:
        super().__init__(message)
        self.category, self.message = category, message
        self.context, self.errors, self.status = context or {}, errors or [], status

    def standard(self) -> dict[str, Any]:
        return {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": self.context,
            "links": {},
            "errors": self.errors,
        }

    def http(self) -> HttpError:
        return hs_error(
            self.status,
            self.category,
            self.message,
            errors=self.errors,
            context=self.context or None,
        )
