"""What ``cx360 check`` tells an admin to fix when the CRM refuses its credentials."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

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


def _crm_url_settings(crm: str, config: Mapping[str, Any]) -> list[tuple[str, str]]:
    if crm == "hubspot":
        return [("HUBSPOT_BASE_URL", str(config.get("HUBSPOT_BASE_URL") or ""))]
    return [
        (name, str(config.get(name) or ""))
        for name in ("SALESFORCE_TOKEN_URL", "SALESFORCE_INSTANCE_URL")
        if str(config.get(name) or "").strip()
    ]


def unreachable_crm_url(crm: str, config: Mapping[str, Any], timeout: float = 10.0) -> str | None:
    """The first CRM URL setting whose host does not resolve or refuses TCP, said plainly."""
    for name, url in _crm_url_settings(crm, config):
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 443
        try:
            addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            return f"{name}={url}: host {host!r} not found (DNS: {exc.strerror})"
        family, kind, proto, _, address = addresses[0]
        try:
            with socket.socket(family, kind, proto) as probe:
                probe.settimeout(timeout)
                probe.connect(address)
        except OSError as exc:
            return f"{name}={url}: cannot connect to {host}:{port} ({exc.strerror or exc})"
    return None
