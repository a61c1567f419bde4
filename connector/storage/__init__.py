"""Storage: SQLAlchemy models, the database handle and Alembic migrations."""

from connector.storage.db import Database
from connector.storage.models import (
    Account,
    ApiKey,
    Base,
    Contact,
    CrmConnection,
    EmployeeRating,
    FollowUp,
    OutboxItem,
    Response,
    Scorecard,
    ServiceHeartbeat,
    StoredRevenue,
    StoredSecret,
    SyncRun,
    WebhookDelivery,
    utcnow,
)

__all__ = [
    "Account",
    "ApiKey",
    "Base",
    "Contact",
    "CrmConnection",
    "Database",
    "EmployeeRating",
    "FollowUp",
    "OutboxItem",
    "Response",
    "Scorecard",
    "ServiceHeartbeat",
    "StoredRevenue",
    "StoredSecret",
    "SyncRun",
    "WebhookDelivery",
    "utcnow",
]
