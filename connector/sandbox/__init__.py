"""The sandbox CRM: a local HTTPS stand-in for Salesforce and HubSpot.

The unmodified simple-salesforce and hubspot-api-client talk to it as to the real CRMs. Start it
with ``cx360 sandbox`` or, in process, with ``SandboxServer``; drive a running one (faults,
limits, stats, reset) through ``SandboxAdmin`` / ``SandboxServer.admin``.
"""

from connector.sandbox.admin import SandboxAdmin, SandboxAdminError
from connector.sandbox.control import Credentials
from connector.sandbox.server import HubSpotLimits, SandboxServer

__all__ = ["Credentials", "HubSpotLimits", "SandboxAdmin", "SandboxAdminError", "SandboxServer"]
