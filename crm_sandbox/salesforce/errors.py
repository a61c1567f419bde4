"""Salesforce's error shapes: the REST error list, a write row's failure, SOQL's pointer."""

from __future__ import annotations

from typing import Any

from crm_sandbox.replies import HttpError, Reply
from crm_sandbox.salesforce import soql
from crm_sandbox.salesforce.schema import FieldError

NOT_FOUND = "The requested resource does not exist"


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None) -> HttpError:
    body: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        body["fields"] = fields
    return HttpError(Reply(status, [body]))


def not_found() -> HttpError:
    return sf_error(404, "NOT_FOUND", NOT_FOUND)


class UnknownFieldError(Exception):
    def __init__(self, object_name: str, name: str) -> None:
        super().__init__(name)
        self.object_name, self.name = object_name, name

    def http(self) -> HttpError:
        return sf_error(
            400,
            "INVALID_FIELD",
            f"No such column '{self.name}' on sobject of type {self.object_name}",
        )


def lock_error(rid: str | None = None) -> FieldError:
    """What the lock_row_burst fault answers, as a contended record does."""
    return FieldError(
        "UNABLE_TO_LOCK_ROW",
        f"unable to obtain exclusive access to this record or 1 records: {rid or ''}".strip(),
        [],
    )


def failure(exc: FieldError) -> dict[str, Any]:
    """One row's result in an sObject Collections reply."""
    return {
        "success": False,
        "errors": [{"statusCode": exc.code, "message": exc.message, "fields": exc.fields}],
    }


def soql_error(text: str, exc: soql.SoqlError) -> HttpError:
    pointer = " " * (exc.column - 1) + "^"
    message = f"\n{text}\n{pointer}\nERROR at Row:1:Column:{exc.column}\n{exc.message}"
    return sf_error(400, exc.kind, message)
