"""The HubSpot CRM v3/v4 surface: one URL map over the API modules, and what every request
goes through before its handler runs (faults, the token, the rate limits, object type names).

The modules, one per API: ``oauth`` (token), ``objects`` (one record), ``batch`` (batches of
records), ``search``, ``associations`` (v4), ``properties`` (properties and groups). A new API
is a new module with a ``routes`` table, listed in ``MODULES`` below. An endpoint name may hold
``{object_type}``: the call is counted as, say, ``hubspot.contacts.batch_update``.

Values are stored and returned as strings, as HubSpot does. Batch endpoints apply the good
inputs and report the bad ones per input with 207 Multi-Status.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.wrappers import Request

from crm_sandbox.control import Controls
from crm_sandbox.hubspot import (
    account,
    associations,
    batch,
    identity,
    oauth,
    objects,
    properties,
    scopes,
    search,
)
from crm_sandbox.hubspot.calls import Call
from crm_sandbox.hubspot.data import HubSpotData
from crm_sandbox.hubspot.errors import hs_error
from crm_sandbox.hubspot.schema import ALIASES
from crm_sandbox.replies import HttpError, Reply, correlation_id
from crm_sandbox.routing import Route, Router

MODULES = (oauth, identity, scopes, account, objects, batch, search, associations, properties)
ROUTER = Router(module.routes for module in MODULES)
UNAUTHENTICATED = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


class HubSpotSurface:
    """Answers ``/crm/...`` and ``/oauth/...`` requests over ``HubSpotData``."""

    def __init__(self, data: HubSpotData, controls: Controls, lock: threading.RLock) -> None:
        self.data, self.controls, self.lock = data, controls, lock

    def handle(self, request: Request) -> tuple[str, Reply]:
        """The endpoint the call is counted as (``hubspot.<endpoint>``), and the reply."""
        try:
            route, args = ROUTER.match(request)
        except (NotFound, MethodNotAllowed):
            reply = Reply(404, None, content_type="text/html")
            return "hubspot.not_found", self._finish(reply)
        for name in ("object_type", "to_type"):
            if name not in args:
                continue
            object_type = ALIASES.get(str(args[name]).lower())
            if object_type is None:
                reply = hs_error(
                    400, "VALIDATION_ERROR", f"Unable to infer object type from: {args[name]}"
                ).reply
                return "hubspot.unknown_object", self._finish(reply)
            args[name] = object_type
        key = "hubspot." + route.endpoint.format(object_type=args.get("object_type"))
        try:
            reply = self._run(request, route, args)
        except HttpError as exc:
            reply = exc.reply
        return key, self._finish(reply, counted=not route.public)

    def _finish(self, reply: Reply, counted: bool = True) -> Reply:
        if counted:
            for name, value in self.controls.hubspot_headers().items():
                reply.headers.setdefault(name, value)
        return reply

    def _run(self, request: Request, route: Route, args: dict[str, Any]) -> Reply:
        controls = self.controls
        faults = controls.faults["hubspot"]
        if faults.in_outage(time.time()):
            raise hs_error(503, "SERVICE_UNAVAILABLE", "Service Unavailable")
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        call = Call(request, self.data, controls)
        if route.public:
            return route.handler(call, **args)
        self._authenticate(request)
        needed = scopes.required_scope(route.endpoint, args)
        if needed and needed not in controls.credentials.hubspot_scopes:
            raise scopes.missing_scopes(needed)
        violated, headers = controls.hubspot_admit(search=route.endpoint.endswith(".search"))
        if violated is None and controls.take_burst("hubspot", "burst_429"):
            # a 429 means the window is used up: HubSpot reports no requests remaining
            violated = "TEN_SECONDLY_ROLLING"
            headers["X-HubSpot-RateLimit-Remaining"] = "0"
        if violated is not None:
            message = f"You have reached your {violated.lower()} limit."
            body = {
                "status": "error",
                "message": message,
                "errorType": "RATE_LIMIT",
                "correlationId": correlation_id(),
                "policyName": violated,
                "groupName": "api-calls",
            }
            raise HttpError(Reply(429, body, headers=headers))
        if controls.roll_error("hubspot"):
            error = hs_error(faults.error_status, "INTERNAL_ERROR", "internal error")
            error.reply.headers.update(headers)
            raise error
        with self.lock:
            reply = route.handler(call, **args)
        reply.headers.update(headers)
        endpoint = route.endpoint.format(object_type=args.get("object_type"))
        if faults.holds(endpoint) and controls.take_hold("hubspot"):
            self._hold(endpoint, faults.hold_reply_ms)
        return reply

    def _hold(self, endpoint: str, milliseconds: float) -> None:
        """Hold an applied call's reply (the ``hold_reply_*`` faults) until the time is up or
        the fault is cleared."""
        until = time.monotonic() + milliseconds / 1000
        while time.monotonic() < until and self.controls.faults["hubspot"].holds(endpoint):
            time.sleep(0.05)

    def _authenticate(self, request: Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        state = "invalid"
        if scheme.lower() == "bearer" and token:
            state = self.controls.check_token("hubspot", token.strip())
        if state == "expired":
            raise hs_error(
                401, "EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired."
            )
        if state != "ok":
            raise hs_error(401, "INVALID_AUTHENTICATION", UNAUTHENTICATED)
