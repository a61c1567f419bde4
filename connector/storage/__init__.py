"""Storage: SQLAlchemy models, the database handle and Alembic migrations."""

from connector.storage.db import Database, utcnow
from connector.storage.models import (
    Account,
    ApiKey,
    Base,
    Contact,
    EmployeeRating,
    FollowUp,
    OutboxItem,
    Response,
    Scorecard,
    StoredSecret,
    SyncRun,
    WebhookDelivery,
)

__all__ = [
    "Account",
    "ApiKey",
    "Base",
    "Contact",
    "Database",
    "EmployeeRating",
    "FollowUp",
    "OutboxItem",
    "Response",
    "Scorecard",
    "StoredSecret",
    "SyncRun",
    "WebhookDelivery",
    "utcnow",
]
