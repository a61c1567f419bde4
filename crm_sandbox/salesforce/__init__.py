"""The sandbox's Salesforce org: its data, and the REST API surface that answers for it."""

from crm_sandbox.salesforce.data import SalesforceData
from crm_sandbox.salesforce.surface import SalesforceSurface

__all__ = ["SalesforceData", "SalesforceSurface"]
