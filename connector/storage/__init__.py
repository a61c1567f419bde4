"""Storage: SQLAlchemy models, the database handle and Alembic migrations."""

from connector.storage.db import Database, utcnow
from connector.storage.models import (
    Account,
    ApiKey,
    Base,
    Contact,
    EmployeeRating,
    OutboxItem,
    Response,
    Scorecard,
    StoredSecret,
    WebhookDelivery,
)

__all__ = [
    "Account",
    "ApiKey",
    "Base",
    "Contact",
    "Database",
    "EmployeeRating",
    "OutboxItem",
    "Response",
    "Scorecard",
    "StoredSecret",
    "WebhookDelivery",
    "utcnow",
]
