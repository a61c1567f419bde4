"""The sandbox's Salesforce org: its data, and the REST API surface that answers for it."""

from crm_sandbox.salesforce.surface import SalesforceData, SalesforceSurface

__all__ = ["SalesforceData", "SalesforceSurface"]
