"""The sandbox's HubSpot portal: its data, and the CRM API surface that answers for it."""

from crm_sandbox.hubspot.data import HubSpotData
from crm_sandbox.hubspot.surface import HubSpotSurface

__all__ = ["HubSpotData", "HubSpotSurface"]
