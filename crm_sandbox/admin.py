"""``SandboxAdmin``: drive any running sandbox (in this process or another) over its admin API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests


class SandboxAdminError(RuntimeError):
    pass


class SandboxAdmin:
    def __init__(self, url: str, ca_path: str | Path, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.verify = str(ca_path)
        # requests lets REQUESTS_CA_BUNDLE override a session's ``verify`` when the session
        # trusts the environment, which would drop the sandbox CA.
        self._session.trust_env = False

    def _call(self, method: str, action: str, body: dict[str, Any] | None = None) -> Any:
        response = self._session.request(
            method, f"{self.url}/__sandbox__/{action}", json=body, timeout=self.timeout
        )
        if response.status_code >= 400:
            raise SandboxAdminError(f"{method} {action}: {response.status_code} {response.text}")
        return response.json()

    def close(self) -> None:
        self._session.close()

    def info(self) -> dict[str, Any]:
        return dict(self._call("GET", "info"))

    def reset(self, seed: bool = True) -> None:
        """Records back to the seed, faults and limits back to the start, counts to zero."""
        self._call("POST", "reset", {"seed": seed})

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "stats"))

    def reset_stats(self) -> dict[str, Any]:
        return dict(self._call("POST", "stats/reset"))

    def faults(self) -> dict[str, Any]:
        return dict(self._call("GET", "faults"))

    def set_faults(self, crm: str = "both", clear: bool = False, **faults: Any) -> dict[str, Any]:
        """E.g. ``set_faults("hubspot", burst_429=3)``, ``set_faults(latency_ms=20)``,
        ``set_faults("salesforce", outage_seconds=5)``; ``clear=True`` starts from no faults."""
        return dict(self._call("POST", "faults", {"crm": crm, "clear": clear, **faults}))

    def clear_faults(self, crm: str = "both") -> dict[str, Any]:
        return self.set_faults(crm, clear=True)

    def set_credentials(self, **credentials: Any) -> dict[str, Any]:
        """E.g. ``set_credentials(hubspot_scopes=["crm.objects.contacts.read"])``: every
        HubSpot token then holds only those scopes."""
        return dict(self._call("POST", "credentials", credentials))

    def set_limits(self, reset_usage: bool = False, **limits: Any) -> dict[str, Any]:
        """``hubspot_ten_second``, ``hubspot_daily``, ``hubspot_search_per_second`` (None =
        off), ``salesforce_daily``."""
        return dict(self._call("POST", "limits", {"reset_usage": reset_usage, **limits}))

    def configure(self, **credentials: Any) -> dict[str, Any]:
        """Set tokens and client credentials (names as in ``control.Credentials``)."""
        return dict(self._call("POST", "credentials", credentials))

    def register_jwt_key(self, pem: str) -> None:
        """The certificate (or public key) JWT bearer assertions must be signed for."""
        self.configure(salesforce_jwt_public_key=pem)

    def expire_sessions(self, crm: str = "both") -> None:
        self._call("POST", "sessions/expire", {"crm": crm})

    def records(self, crm: str, object_name: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"records/{crm}/{object_name}")["records"])

    def generate_contacts(self, crm: str = "both", count: int = 1000, accounts: int = 10) -> Any:
        return self._call("POST", "generate", {"crm": crm, "count": count, "accounts": accounts})

    def deactivate_owner(self, crm: str, owner: str) -> dict[str, Any]:
        """The owner leaves: writes assigning records or tasks to them are refused."""
        return dict(self._call("POST", "owners/deactivate", {"crm": crm, "owner": owner}))

    def merge_salesforce(self, object_name: str, master: str, loser: str) -> dict[str, Any]:
        """Merge two Salesforce Accounts or Contacts as an admin does in the UI."""
        body = {"object": object_name, "master": master, "loser": loser}
        return dict(self._call("POST", "salesforce/merge", body))

    def enable_currencies(
        self, crm: str, corporate: str, rates: dict[str, float]
    ) -> dict[str, Any]:
        """Turn on multiple currencies in one CRM (rates: units per unit of ``corporate``)."""
        body = {"crm": crm, "corporate": corporate, "rates": rates}
        return dict(self._call("POST", "currencies", body))

    def save(self) -> str:
        return str(self._call("POST", "save")["saved"])
