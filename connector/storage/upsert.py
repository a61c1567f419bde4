"""INSERT ... ON CONFLICT DO UPDATE for the two backends cx360 runs on (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def table_of(model: Any) -> Table:
    """The Core table of a mapped class (Core statements batch; see ``upsert_statement``)."""
    return cast(Table, model.__table__)


def upsert_statement(
    session: Session, model: Any, conflict_columns: Sequence[str], update_columns: Iterable[str]
) -> Insert:
    """An insert of ``model`` that updates ``update_columns`` when the key already exists.

    Built on the model's Core table: the ORM's bulk path runs RETURNING one row at a time on
    SQLite, the Core statement sends a whole batch at once.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table_of(model))
    return statement.on_conflict_do_update(
        index_elements=list(conflict_columns),
        set_={column: statement.excluded[column] for column in update_columns},
    )
