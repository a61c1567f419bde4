"""Build the configured CRM adapter from configuration (connector/config.py names)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.crm.auth import fetch_hubspot_token, fetch_salesforce_token, http_session
from connector.crm.errors import FatalCrmError
from connector.crm.hubspot import HubSpotAdapter
from connector.crm.manifest import Manifest, load_manifest
from connector.crm.salesforce import SalesforceAdapter
from connector.crm.secrets import SecretLookup, secret, stored_secret
from connector.crm.types import CrmAdapter


def configured_crm(config: Mapping[str, Any]) -> str:
    crm = str(config.get("CX360_CRM") or "").strip().lower()
    if crm not in {"hubspot", "salesforce"}:
        raise FatalCrmError("CX360_CRM is not set: expected hubspot or salesforce", kind="config")
    return crm


def adapter_from_config(
    config: Mapping[str, Any],
    *,
    lookup: SecretLookup = stored_secret,
    manifest: Manifest | None = None,
) -> CrmAdapter:
    """The adapter for ``CX360_CRM``, logged in (raises ``FatalCrmError`` on bad settings)."""
    crm = configured_crm(config)
    ca_bundle = str(config.get("CX360_CRM_CA_BUNDLE") or "").strip() or None
    if crm == "hubspot":
        session = http_session(config)
        group = (manifest or load_manifest()).for_crm("hubspot").property_group
        return HubSpotAdapter(
            base_url=str(config.get("HUBSPOT_BASE_URL") or "https://api.hubapi.com"),
            token_provider=lambda: fetch_hubspot_token(config, session, lookup),
            ca_bundle=ca_bundle,
            can_refresh=bool(secret(config, "HUBSPOT_REFRESH_TOKEN", lookup=lookup)),
            property_group=group or ("cx360", "cx360 Customer 360"),
        )
    permissions = (manifest or load_manifest()).permissions.get("salesforce") or {}
    return SalesforceAdapter(
        login=lambda session: fetch_salesforce_token(config, session, lookup),
        session=http_session(config),
        api_version=str(config.get("SALESFORCE_API_VERSION") or "59.0"),
        bulk_threshold=int(config.get("SALESFORCE_BULK_THRESHOLD") or 2000),
        permission_set=str(permissions.get("permission_set") or "CX360_Integration"),
    )
