"""What ``cx360 check`` tells an admin to fix when the CRM refuses its credentials."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.crm.errors import CrmError, FatalCrmError


def credential_settings(crm: str, config: Mapping[str, Any]) -> str:
    """The settings that hold the credentials ``crm`` was called with."""
    if crm == "hubspot":
        if str(config.get("HUBSPOT_ACCESS_TOKEN") or "").strip():
            return "HUBSPOT_ACCESS_TOKEN"
        return "HUBSPOT_REFRESH_TOKEN / HUBSPOT_CLIENT_ID / HUBSPOT_CLIENT_SECRET"
    return "SALESFORCE_CLIENT_ID / SALESFORCE_CLIENT_SECRET"


def explained(crm: str, config: Mapping[str, Any], exc: CrmError) -> str:
    """``exc`` as one line; a refused login also names the settings to fix."""
    text = str(exc)
    if isinstance(exc, FatalCrmError) and exc.kind == "auth" and exc.status:
        return f"{text} (check {credential_settings(crm, config)})"
    return text
