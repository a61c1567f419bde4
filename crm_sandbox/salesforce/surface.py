"""The Salesforce REST surface: one URL map over the API modules, and what every request goes
through before its handler runs (faults, the session, the daily API limit, the path's version).

The modules, one per API: ``oauth`` (token), ``describe`` (describe, limits), ``sobjects``
(one record), ``query`` (SOQL), ``composite`` (sObject Collections), ``tooling`` (CustomField),
``bulk`` (Bulk API 2.0). A new API is a new module with a ``routes`` table, listed in
``MODULES`` below.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.wrappers import Request

from crm_sandbox.control import Controls
from crm_sandbox.replies import HttpError, Reply
from crm_sandbox.routing import Route, Router
from crm_sandbox.salesforce import (
    bulk,
    composite,
    describe,
    identity,
    oauth,
    query,
    sobjects,
    tooling,
)
from crm_sandbox.salesforce.calls import DEFAULT_VERSION, Call
from crm_sandbox.salesforce.data import SalesforceData
from crm_sandbox.salesforce.errors import NOT_FOUND, not_found, sf_error

MODULES = (oauth, identity, describe, sobjects, query, composite, tooling, bulk)
ROUTER = Router(module.routes for module in MODULES)
#: Salesforce Help 000386264: the URI of a REST call is at most 16,384 bytes (414 above).
MAX_URI_BYTES = 16_384


class SalesforceSurface:
    """Answers ``/services/...`` requests over ``SalesforceData``."""

    def __init__(
        self,
        data: SalesforceData,
        controls: Controls,
        lock: threading.RLock,
        base_url: Callable[[], str],
    ) -> None:
        self.data, self.controls, self.lock, self.base_url = data, controls, lock, base_url

    def handle(self, request: Request) -> tuple[str, Reply]:
        """The endpoint the call is counted as (``salesforce.<endpoint>``), and the reply."""
        uri = request.full_path if request.query_string else request.path
        if len(uri.encode()) > MAX_URI_BYTES:
            body = [{"errorCode": "URI_TOO_LONG", "message": "URI Too Long"}]
            return "salesforce.uri_too_long", self._finish(Reply(414, body))
        try:
            route, args = ROUTER.match(request)
        except NotFound:
            body = [{"errorCode": "NOT_FOUND", "message": NOT_FOUND}]
            return "salesforce.not_found", self._finish(Reply(404, body))
        except MethodNotAllowed as exc:
            allowed = ",".join(sorted(exc.valid_methods or []))
            message = f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}"
            body = [{"errorCode": "METHOD_NOT_ALLOWED", "message": message}]
            return "salesforce.method_not_allowed", self._finish(Reply(405, body))
        try:
            reply = self._run(request, route, args)
        except HttpError as exc:
            reply = exc.reply
        return f"salesforce.{route.endpoint}", self._finish(reply)

    def _finish(self, reply: Reply) -> Reply:
        reply.headers["Sforce-Limit-Info"] = self.controls.salesforce_usage_header()
        return reply

    def _run(self, request: Request, route: Route, args: dict[str, str]) -> Reply:
        controls = self.controls
        faults = controls.faults["salesforce"]
        if faults.in_outage(time.time()):
            raise sf_error(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable")
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        call = Call(request, self.data, controls, self.base_url)
        if route.public:
            return route.handler(call, **args)
        self._authenticate(request)
        if not controls.salesforce_admit():
            raise sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if controls.roll_error("salesforce"):
            status = faults.error_status
            raise sf_error(
                status,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this "
                f"ErrorId if you contact support: {secrets.randbelow(10**9)}-{status} (-1)",
            )
        call.version = args.pop("version", DEFAULT_VERSION)
        if not call.version.startswith("v"):
            raise not_found()
        call.lock_fault = route.writes and controls.take_burst("salesforce", "lock_row_burst")
        with self.lock:
            return route.handler(call, **args)

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        state = "invalid"
        if scheme.lower() in ("bearer", "oauth") and token:
            state = self.controls.check_token("salesforce", token.strip())
        if state != "ok":
            raise sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
