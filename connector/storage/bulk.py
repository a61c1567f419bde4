"""Set-based inserts and key lookups whose SQL does not grow with the batch, on both backends.

An ``IN (...)`` list or a multi-row ``VALUES`` has one placeholder per value, so its text
changes with the batch size: PostgreSQL parses and plans each such statement again (most of
the time of a 1,000-row upsert), and SQLAlchemy processes every value in Python. So:

- PostgreSQL gets the rows as one JSON parameter (``INSERT ... SELECT ... FROM
  json_to_recordset(:rows)``) and lookup keys as one array (``IN (SELECT unnest(:keys))``,
  see ``in_keys``);
- SQLite, which parses in microseconds, gets plain multi-row ``VALUES`` handed to the driver
  as is, and lookup keys as one JSON array (``IN (SELECT value FROM json_each(:keys))``).

Either way datetimes are formatted once per object, as the backend stores them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    bindparam,
    column,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from connector import batching
from connector.storage.models import UTCDateTime, sqlite_text, utc_for_storage

SQLITE_MAX_VARIABLES = 32766  # SQLite's default limit since 3.32


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def upsert_insert(session: Session, entity: Any) -> postgresql.Insert | sqlite.Insert:
    """``INSERT`` for ``entity`` with the backend's ``ON CONFLICT`` clauses (both have them)."""
    dialect = postgresql if dialect_of(session) == "postgresql" else sqlite
    return dialect.insert(entity)


def in_keys(dialect: str, key: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """``key IN`` the values bound as ``name`` (``key_values``): one SQL text for any count.

    On PostgreSQL ``IN (SELECT unnest(:keys))`` rather than ``= ANY(:keys)``: psycopg prepares
    a statement run five times, and PostgreSQL may then plan it once for any array; for a table
    without statistics yet (a first import) that generic plan scanned the table comparing each
    row with every key, while a semi-join on the unnested keys probes the index.
    """
    if dialect == "postgresql":
        return key.in_(select(func.unnest(bindparam(name, type_=postgresql.ARRAY(key.type)))))
    return key.in_(select(func.json_each(bindparam(name)).table_valued("value").c.value))


def key_values(dialect: str, values: Collection[Any]) -> Any:
    """The parameter ``in_keys`` binds: an array on PostgreSQL, a JSON array on SQLite."""
    return list(values) if dialect == "postgresql" else json.dumps(list(values))


@functools.cache
def find_statement(
    dialect: str, table: Table, returned: tuple[str, ...], keys: tuple[str, ...]
) -> Select[Any]:
    """``SELECT returned FROM table`` where any of the ``keys`` columns is in its values (bound
    by column name); built once per shape, as building costs more than running it."""
    conditions = [in_keys(dialect, table.c[name], name) for name in keys]
    return select(*(table.c[name] for name in returned)).where(or_(*conditions))


def find_rows(
    session: Session, table: Table, returned: tuple[str, ...], keys: Mapping[str, Collection[Any]]
) -> list[tuple[Any, ...]] | None:
    """Rows of ``table`` whose column is in its values for any of ``keys`` (column -> values);
    None when no values are given (nothing to look for, no statement sent)."""
    present = tuple(name for name, values in keys.items() if values)
    if not present:
        return None
    dialect = dialect_of(session)
    statement = find_statement(dialect, table, returned, present)
    values = {name: key_values(dialect, sorted(keys[name])) for name in present}
    return [tuple(row) for row in session.execute(statement, values)]


def _datetime_text(dialect: str) -> Callable[[datetime], str]:
    """Datetimes as the text each backend stores; each distinct object formatted once.

    Keyed by ``id``: the rows of one statement keep their values alive, and a call's ``now``
    is one object in every row.
    """
    seen: dict[int, str] = {}

    def text(value: datetime) -> str:
        found = seen.get(id(value))
        if found is None:
            utc = utc_for_storage(value)
            on_sqlite = dialect == "sqlite"
            found = sqlite_text(utc.replace(tzinfo=None)) if on_sqlite else utc.isoformat()
            seen[id(value)] = found
        return found

    return text


def _json_default(dialect: str) -> Callable[[Any], str]:
    as_text = _datetime_text(dialect)

    def default(value: Any) -> str:
        if isinstance(value, datetime):
            return as_text(value)
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    return default


@dataclass(frozen=True)
class _Insert:
    """What ``insert_rows`` was asked for (see there); the key of its cached statement."""

    table: Table
    columns: tuple[str, ...]
    conflict: tuple[str, ...]
    update: tuple[str, ...]
    returning: tuple[str, ...]


@functools.cache
def _json_statement(spec: _Insert) -> ReturningInsert[Any] | postgresql.Insert:
    """PostgreSQL: ``INSERT ... SELECT ... FROM json_to_recordset(:rows)``."""
    records = (
        func.json_to_recordset(bindparam("rows"))
        .table_valued(*(column(name, spec.table.c[name].type) for name in spec.columns))
        .render_derived(with_types=True)
    )
    insert = postgresql.insert(spec.table)
    if spec.conflict and spec.update:
        insert = insert.on_conflict_do_update(
            index_elements=list(spec.conflict),
            set_={name: insert.excluded[name] for name in spec.update},
        )
    elif spec.conflict:
        insert = insert.on_conflict_do_nothing(index_elements=list(spec.conflict))
    statement = insert.from_select(
        spec.columns, select(*(records.c[name] for name in spec.columns)), include_defaults=False
    )
    if not spec.returning:
        return statement
    return statement.returning(*(spec.table.c[name] for name in spec.returning))


def _insert_json(
    session: Session, spec: _Insert, rows: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    text = json.dumps(rows, default=_json_default("postgresql"), separators=(",", ":"))
    result = session.execute(_json_statement(spec), {"rows": text})
    return [tuple(row) for row in result] if spec.returning else []


@functools.cache
def _values_sql(spec: _Insert) -> tuple[str, str, frozenset[int]]:
    """SQLite: the text before and after the ``VALUES`` groups, and the datetime positions."""
    quote = sqlite.dialect().identifier_preparer.quote
    sql_head = f"INSERT INTO {quote(spec.table.name)} ("
    sql_head += ", ".join(quote(name) for name in spec.columns) + ") VALUES "
    sql_tail = ""
    if spec.conflict:
        target = ", ".join(quote(name) for name in spec.conflict)
        action = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in spec.update)
        sql_tail = f" ON CONFLICT ({target}) " + (
            f"DO UPDATE SET {action}" if spec.update else "DO NOTHING"
        )
    if spec.returning:
        sql_tail += " RETURNING " + ", ".join(quote(name) for name in spec.returning)
    dated = frozenset(
        i for i, name in enumerate(spec.columns) if isinstance(spec.table.c[name].type, UTCDateTime)
    )
    return sql_head, sql_tail, dated


def _insert_values(
    session: Session, spec: _Insert, rows: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    """SQLite: multi-row ``VALUES`` sent to the driver as is.

    SQLite parses a statement in microseconds, so its text may vary with the row count; what
    costs is SQLAlchemy's per-value processing, skipped here: datetimes are formatted once per
    object and every other value is already what the driver binds.
    """
    sql_head, sql_tail, dated = _values_sql(spec)
    as_text = _datetime_text("sqlite")
    group = "(" + ", ".join("?" * len(spec.columns)) + ")"
    connection = session.connection()
    found: list[tuple[Any, ...]] = []
    for chunk in batching.chunked(rows, SQLITE_MAX_VARIABLES // len(spec.columns)):
        values: list[Any] = []
        for row in chunk:
            line = [row[name] for name in spec.columns]
            for i in dated:
                if line[i] is not None:
                    line[i] = as_text(line[i])
            values.extend(line)
        sql = sql_head + ", ".join([group] * len(chunk)) + sql_tail
        result = connection.exec_driver_sql(sql, tuple(values))
        if spec.returning:
            found.extend(tuple(row) for row in result)
    return found


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    returning: Sequence[str] = (),
    conflict: Sequence[str] = (),
    update: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (dicts with the same keys); optionally upsert; the returned columns.

    ``conflict`` names the unique key; with ``update``, a row whose key exists updates those
    columns (``ON CONFLICT DO UPDATE``), without, it is skipped (``DO NOTHING``). The returned
    rows come in no promised order; inserted rows take ascending ids in the order given.
    """
    if not rows:
        return []
    insert = _insert_json if dialect_of(session) == "postgresql" else _insert_values
    spec = _Insert(table, tuple(rows[0]), tuple(conflict), tuple(update), tuple(returning))
    return insert(session, spec, rows)
