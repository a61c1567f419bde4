"""The sandbox CRM: a local HTTPS stand-in for Salesforce and HubSpot.

The unmodified simple-salesforce and hubspot-api-client talk to it as to the real CRMs. Start it
with ``cx360 sandbox`` or, in process, with ``SandboxServer``; drive a running one (faults,
limits, stats, reset) through ``SandboxAdmin`` / ``SandboxServer.admin``.
"""

from crm_sandbox.admin import SandboxAdmin, SandboxAdminError
from crm_sandbox.control import Credentials
from crm_sandbox.server import HubSpotLimits, SandboxServer

__all__ = ["Credentials", "HubSpotLimits", "SandboxAdmin", "SandboxAdminError", "SandboxServer"]
