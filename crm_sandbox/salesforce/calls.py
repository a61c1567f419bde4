"""What every Salesforce handler is given and shares: the call, JSON bodies, record shapes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request

from crm_sandbox.control import Controls
from crm_sandbox.salesforce.data import SalesforceData
from crm_sandbox.salesforce.errors import sf_error

API = "/services/data/<version>"  # the versioned REST root every resource path starts with
DEFAULT_VERSION = "v59.0"


@dataclass
class Call:
    """One request to the org, as a handler sees it."""

    request: Request
    data: SalesforceData
    controls: Controls
    instance_url: Callable[[], str]  # the sandbox's own URL, for OAuth replies
    version: str = DEFAULT_VERSION  # from the path, e.g. "v59.0"
    lock_fault: bool = False  # the lock_row_burst fault picked this write to fail

    def json(self) -> Any:
        try:
            return self.request.get_json(force=True, silent=False)
        except Exception:
            raise sf_error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON") from None

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise sf_error(
                400,
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of SObject from START_ARRAY value [line:1, column:1]",
            )
        return body

    def attributes(self, object_name: str, rid: str) -> dict[str, str]:
        return {
            "type": object_name,
            "url": f"/services/data/{self.version}/sobjects/{object_name}/{rid}",
        }

    def render(
        self, object_name: str, record: dict[str, Any], names: Iterable[str]
    ) -> dict[str, Any]:
        """A record as the REST API returns it: ``attributes`` and the named fields."""
        out: dict[str, Any] = {"attributes": self.attributes(object_name, record["Id"])}
        for name in names:
            out[name] = record.get(name)
        return out
