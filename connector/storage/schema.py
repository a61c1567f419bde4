"""Creating the schema straight from the models, for tests and benchmarks.

Production builds it with the migrations (``cx360 db upgrade``). This sits above the database
handle, the models and the stored functions, so none of them needs to import another to do it.
"""

from __future__ import annotations

from connector.storage import procedures
from connector.storage.db import Database
from connector.storage.models import Base


def create_schema(database: Database) -> None:
    """Create every table and the PostgreSQL store functions on ``database``."""
    Base.metadata.create_all(database.engine)
    with database.engine.begin() as connection:
        procedures.install(connection)
