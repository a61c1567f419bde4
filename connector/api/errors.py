"""One JSON error shape everywhere: ``{"code", "status", "message", "errors"?}``.

It is flask-smorest's own shape (used for every HTTPException once the Api is initialised);
the handlers here give the same shape to what is not an HTTPException: storage outages (503
with Retry-After, so senders retry) and unexpected errors (500, logged, no stack trace sent).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, NoReturn

from flask import Flask, Response, jsonify
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from connector.metrics import STORAGE_UNAVAILABLE
from connector.storage.conflicts import describe, sqlstate

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 30


def fail(code: int, message: str, errors: Any = None) -> NoReturn:
    """Abort the request with the one error shape (a typed wrapper of flask-smorest's abort)."""
    from flask_smorest import abort

    if errors:
        abort(code, message=message, errors=errors)
    abort(code, message=message)
    raise AssertionError("abort returned")  # pragma: no cover - abort always raises


def error_body(code: int, message: str | None = None, errors: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "status": HTTPStatus(code).phrase}
    if message:
        body["message"] = message
    if errors:
        body["errors"] = errors
    return body


def error_response(
    code: int, message: str | None = None, errors: Any = None, headers: dict[str, str] | None = None
) -> Response:
    response = jsonify(error_body(code, message, errors))
    response.status_code = code
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def storage_unavailable(exc: Exception) -> Response:
    log_storage_unavailable(exc)
    return error_response(
        503,
        "Storage is unavailable; nothing was stored. Retry later.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def log_storage_unavailable(exc: Exception) -> None:
    """Log and count a 503 for a database error: its SQLSTATE and the driver's message."""
    STORAGE_UNAVAILABLE.labels(sqlstate(exc) or "unknown").inc()
    log.warning("storage unavailable, answered 503: %s", describe(exc))


def is_storage_unavailable(exc: DBAPIError) -> bool:
    """A database error answered 503: unreachable, or a lost race still lost after retries."""
    return isinstance(exc, OperationalError) or bool(exc.connection_invalidated)


def http_error(exc: HTTPException) -> Response:
    """flask-smorest's shape, with werkzeug's description as the message when none was given."""
    data = getattr(exc, "data", None) or {}
    code = exc.code or 500
    response = error_response(
        code,
        data.get("message") or exc.description,
        data.get("errors") or data.get("messages"),
        headers=data.get("headers"),
    )
    if code == 405 and (allowed := exc.get_headers()):
        response.headers.update({k: v for k, v in allowed if k == "Allow"})
    return response


def register_error_handlers(app: Flask) -> None:
    """Register after flask-smorest's Api so these handlers are the ones used."""
    app.register_error_handler(HTTPException, http_error)

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError) -> Response:
        if is_storage_unavailable(exc):
            return storage_unavailable(exc)
        log.exception("database error")
        return error_response(500, "Internal error; nothing was stored.")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return http_error(exc)
        log.exception("unhandled error")
        return error_response(500, "Internal error.")
