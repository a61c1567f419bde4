"""What ``cx360 check`` tells an admin to fix when the CRM refuses its credentials."""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from requests.utils import DEFAULT_CA_BUNDLE_PATH

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
    """The first CRM URL setting whose host does not resolve, refuses TCP or fails TLS
    verification with the CA bundle the CRM clients use, said plainly."""
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
                untrusted = _tls_refusal(probe, host, config)
        except OSError as exc:
            return f"{name}={url}: cannot connect to {host}:{port} ({exc.strerror or exc})"
        if untrusted:
            return f"{name}={url}: {untrusted}"
    return None


def ca_in_use(config: Mapping[str, Any]) -> tuple[str, str]:
    """The CA bundle file the CRM clients verify with, and how to name it to an admin.

    As ``connector.crm.auth.http_session`` and requests choose it: CX360_CRM_CA_BUNDLE, else
    REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment, else certifi's bundle.
    """
    configured = str(config.get("CX360_CRM_CA_BUNDLE") or "").strip()
    if configured:
        return configured, f"CX360_CRM_CA_BUNDLE={configured}"
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if os.environ.get(variable):
            return os.environ[variable], f"{variable}={os.environ[variable]} (environment)"
    return DEFAULT_CA_BUNDLE_PATH, f"the default CA bundle {DEFAULT_CA_BUNDLE_PATH}"


def _tls_refusal(connected: socket.socket, host: str, config: Mapping[str, Any]) -> str | None:
    """Why the server's certificate is not trusted, or None when the handshake verifies."""
    path, named = ca_in_use(config)
    context = ssl.create_default_context(cafile=path)
    try:
        with context.wrap_socket(connected, server_hostname=host):
            return None
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or exc.reason or "not trusted"
        return (
            f"TLS verification failed ({reason}) with {named}; set CX360_CRM_CA_BUNDLE to "
            "the CA that signed this server's certificate"
        )
    except ssl.SSLError as exc:
        return f"TLS handshake failed ({exc.reason or exc}); is this an https:// port?"
