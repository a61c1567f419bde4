"""What every HubSpot handler is given and shares: the call, JSON bodies, how a record is
rendered, and the batch envelope (``inputs`` in; ``results``/``errors``, 207 when mixed, out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request

from crm_sandbox.control import Controls
from crm_sandbox.hubspot.data import HubSpotData
from crm_sandbox.hubspot.errors import InputError, hs_error
from crm_sandbox.hubspot.schema import (
    CREATED_PROPERTY,
    DEFAULT_PROPERTIES,
    MODIFIED_PROPERTY,
    now_iso,
)
from crm_sandbox.replies import Reply

MAX_BATCH = 100


@dataclass
class Call:
    """One request to the portal, as a handler sees it."""

    request: Request
    data: HubSpotData
    controls: Controls

    def json_object(self) -> dict[str, Any]:
        try:
            body = self.request.get_json(force=True, silent=False)
        except Exception:
            raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1") from None
        if not isinstance(body, dict):
            raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object")
        return body

    def wanted(self) -> list[str] | None:
        """The ``properties`` query parameter(s), or None for the object's defaults."""
        args = self.request.args
        values = [v for raw in args.getlist("properties") for v in raw.split(",") if v]
        return values or None

    def render(
        self,
        object_type: str,
        record: dict[str, Any],
        wanted: list[str] | None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A record as the API returns it: the wanted (or default) properties it knows."""
        props = record["properties"]
        names = (
            list(DEFAULT_PROPERTIES[object_type])
            if wanted is None
            else [
                *wanted,
                "hs_object_id",
                CREATED_PROPERTY[object_type],
                MODIFIED_PROPERTY[object_type],
            ]
        )
        known = self.data.properties[object_type]
        rendered = {n: props.get(n) for n in names if n in known}
        out = {
            "id": record["id"],
            "properties": rendered,
            "createdAt": record["createdAt"],
            "updatedAt": record["updatedAt"],
            "archived": False,
        }
        if extra:
            out.update(extra)
        return out

    def render_written(
        self,
        object_type: str,
        record: dict[str, Any],
        values: dict[str, Any],
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A record after a write: the default properties and the ones written."""
        return self.render(object_type, record, [*DEFAULT_PROPERTIES[object_type], *values], extra)


def batch_reply(
    results: list[dict[str, Any]], errors: list[InputError], started: str, ok_status: int = 200
) -> Reply:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": now_iso(),
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = [e.standard() for e in errors]
        return Reply(207, body)
    return Reply(ok_status, body)


def batch_inputs(body: dict[str, Any], limit: int | None = None) -> list[dict[str, Any]]:
    """A batch call's ``inputs``: each an object, at most ``limit`` (100 unless the endpoint
    documents another), or the whole call is refused."""
    limit = limit or MAX_BATCH
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise hs_error(
            400,
            "VALIDATION_ERROR",
            "inputs: must not be null",
            errors=[{"message": "must not be null", "code": "REQUIRED_FIELD", "in": "inputs"}],
        )
    if len(inputs) > limit:
        # (unconfirmed wording) HubSpot refuses the whole call, nothing is applied
        raise hs_error(
            400,
            "VALIDATION_ERROR",
            f"Batch input size {len(inputs)} exceeds the limit of {limit} inputs",
            errors=[
                {
                    "message": f"size must be between 0 and {limit}",
                    "code": "INVALID_LENGTH",
                    "in": "inputs",
                }
            ],
        )
    if not all(isinstance(i, dict) for i in inputs):
        raise hs_error(400, "VALIDATION_ERROR", "inputs: each input must be an object")
    return inputs
