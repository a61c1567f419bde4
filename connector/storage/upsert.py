"""The Core table behind a mapped class, for the statements of ``connector.storage.bulk``."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table


def table_of(model: Any) -> Table:
    """The Core table of a mapped class (Core statements batch; the ORM's bulk path does not)."""
    return cast(Table, model.__table__)
