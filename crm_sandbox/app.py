"""The WSGI application: one port, three path spaces (Salesforce, HubSpot, admin)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from crm_sandbox.hubspot import HubSpotSurface
from crm_sandbox.replies import Reply
from crm_sandbox.salesforce import SalesforceSurface
from crm_sandbox.state import SandboxState

LOG = logging.getLogger("cx360.sandbox")
ADMIN = "/__sandbox__/"
SALESFORCE_PREFIXES = ("/services/", "/.well-known/openid-configuration", "/id/keys")
HUBSPOT_PREFIXES = ("/crm/", "/oauth/", "/account-info/")


class SandboxApp:
    def __init__(
        self,
        state: SandboxState,
        crm: str,
        info: Callable[[], dict[str, Any]],
        state_file: Path | None = None,
    ) -> None:
        self.state, self.crm, self.info, self.state_file = state, crm, info, state_file
        self.salesforce = SalesforceSurface(
            state.salesforce, state.controls, state.lock, lambda: str(info()["url"])
        )
        self.hubspot = HubSpotSurface(state.hubspot, state.controls, state.lock)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path
        started = time.perf_counter()
        crm: str | None = None
        key = ""
        try:
            if path.startswith(ADMIN):
                reply = self.admin(request, path[len(ADMIN) :])
            elif path.startswith(SALESFORCE_PREFIXES) and self.crm in ("both", "salesforce"):
                crm = "salesforce"
                key, reply = self.salesforce.handle(request)
            elif path.startswith(HUBSPOT_PREFIXES) and self.crm in ("both", "hubspot"):
                crm = "hubspot"
                key, reply = self.hubspot.handle(request)
            else:
                reply = Reply(404, "Not Found", content_type="text/plain")
        except Exception:
            # a sandbox bug must still look like a CRM error to the client, and be visible
            LOG.exception("sandbox failed on %s %s", request.method, path)
            key = f"{crm}.internal_error"
            reply = Reply(
                500,
                [{"message": "sandbox internal error", "errorCode": "UNKNOWN_EXCEPTION"}]
                if crm == "salesforce"
                else {
                    "status": "error",
                    "message": "sandbox internal error",
                    "category": "INTERNAL_ERROR",
                },
            )
        if crm is not None:
            elapsed_ms = (time.perf_counter() - started) * 1000
            self.state.controls.record(crm, key, reply.status, elapsed_ms)
        response = Response(
            reply.payload(),
            status=reply.status,
            headers=reply.headers,
            content_type=reply.content_type,
        )
        return response(environ, start_response)

    # --------------------------------------------------------------------- admin
    def admin(self, request: Request, action: str) -> Reply:
        try:
            return self._admin(request, action.strip("/"))
        except (ValueError, TypeError) as exc:
            return Reply(400, {"error": str(exc)})
        except KeyError as exc:
            return Reply(404, {"error": f"unknown: {exc.args[0]}"})

    def _admin(self, request: Request, action: str) -> Reply:
        state, controls = self.state, self.state.controls
        body: dict[str, Any] = {}
        if request.method in ("POST", "PUT", "PATCH") and request.get_data():
            parsed = request.get_json(force=True, silent=True)
            if not isinstance(parsed, dict):
                raise ValueError("the body must be a JSON object")
            body = parsed
        method, parts = request.method, action.split("/")
        if (method, action) == ("GET", "info"):
            return Reply(200, self.info())
        if (method, action) == ("POST", "reset"):
            state.reset(seed=bool(body.get("seed", True)))
            controls.reset()
            return Reply(200, {"reset": True})
        if (method, action) == ("GET", "stats"):
            return Reply(200, controls.stats())
        if (method, action) == ("POST", "stats/reset"):
            controls.reset_stats()
            return Reply(200, controls.stats())
        if (method, action) == ("GET", "faults"):
            return Reply(200, controls.describe())
        if (method, action) == ("POST", "faults"):
            crm = str(body.pop("crm", "both"))
            clear = bool(body.pop("clear", False))
            return Reply(200, {"faults": controls.set_faults(crm, clear=clear, **body)})
        if (method, action) == ("POST", "limits"):
            reset_usage = bool(body.pop("reset_usage", False))
            return Reply(200, {"limits": controls.set_limits(reset_usage=reset_usage, **body)})
        if (method, action) == ("POST", "credentials"):
            return Reply(200, {"credentials": controls.set_credentials(**body)})
        if (method, action) == ("POST", "sessions/expire"):
            controls.expire_sessions(str(body.get("crm", "both")))
            return Reply(200, {"expired": True})
        if method == "GET" and parts[0] == "records" and len(parts) == 3:
            return Reply(200, {"records": state.records(parts[1], parts[2])})
        if (method, action) == ("POST", "generate"):
            return Reply(
                200,
                state.generate_contacts(
                    str(body.get("crm", "both")),
                    int(body.get("count", 0)),
                    int(body.get("accounts", 10)),
                ),
            )
        if (method, action) == ("POST", "owners/deactivate"):
            return Reply(
                200, state.deactivate_owner(str(body.get("crm", "")), str(body.get("owner", "")))
            )
        if (method, action) == ("POST", "salesforce/merge"):
            return Reply(
                200,
                state.merge_salesforce(
                    str(body.get("object", "")), str(body.get("master", "")),
                    str(body.get("loser", "")),
                ),
            )  # fmt: skip
        if (method, action) == ("POST", "currencies"):
            rates = body.get("rates", {})
            if not isinstance(rates, dict):
                raise ValueError("rates must map currency codes to conversion rates")
            return Reply(
                200,
                state.enable_currencies(
                    str(body.get("crm", "")), str(body.get("corporate", "")), rates
                ),
            )
        if (method, action) == ("POST", "save"):
            if self.state_file is None:
                raise ValueError("this sandbox was started without a state file")
            state.save(self.state_file)
            return Reply(200, {"saved": str(self.state_file)})
        return Reply(404, {"error": f"no admin action {method} {action}"})
