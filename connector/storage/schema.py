"""Creating the schema straight from the models, for tests and benchmarks.

Production builds it with the migrations (``cx360 db upgrade``). This sits above the database
handle, the models and the stored functions, so none of them needs to import another to do it.
"""

from __future__ import annotations

from connector.storage import procedures
from connector.storage.db import Database
from connector.storage.heartbeats import seed_heartbeats
from connector.storage.migrate import stamp_head
from connector.storage.models import Base, utcnow


def create_schema(database: Database) -> None:
    """Create every table and the PostgreSQL store functions on ``database``, recorded as at
    this release's newest migration (so ``cx360 db check`` and ``/readyz`` accept it)."""
    Base.metadata.create_all(database.engine)
    with database.engine.begin() as connection:
        procedures.install(connection)
        stamp_head(connection)
        seed_heartbeats(connection, utcnow())
