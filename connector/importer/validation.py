"""Turning file rows into the REST input shape and validating every one of them.

A row becomes a dict of the fields ``ResponseIn`` (or ``RatingIn``) knows, read from the
columns the options name (``--column score=Rating``); empty cells count as absent. Spreadsheet
habits are forgiven where the meaning is plain: ``"9"`` and ``"9.0"`` are the number 9, dates
are read in ``--date-format`` (``dd.mm.yyyy``, ...) as well as ISO 8601, and a date or time
without a timezone is taken in the import's timezone (UTC unless given). Where a value is
still wrong, the message says what to write (the accepted date formats, a decimal comma). Rows
without ``external_id`` get one derived from their content, so importing the same file twice
stores nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, tzinfo
from itertools import repeat
from typing import Any

from marshmallow import Schema, ValidationError

from connector.api.schemas import RatingIn, ResponseIn
from connector.importer.rows import SourceRow

KINDS = ("nps", "csat", "rating")
_INTEGER_FIELDS = frozenset({"score", "relationship", "potential"})
_DATETIME_FIELDS = frozenset({"answered_at", "rated_at"})
_WHOLE_NUMBER = re.compile(r"[+-]?\d+(?:\.0*)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")


def fields_for(kind: str | None) -> tuple[str, ...]:
    """The input fields a row of this kind may carry, in schema order."""
    schema = RatingIn if kind == "rating" else ResponseIn
    return tuple(schema._declared_fields)


def parse_column_options(values: Iterable[str], kind: str | None) -> dict[str, str]:
    """``["score=Rating", ...]`` to ``{"score": "Rating"}``; unknown fields are an error."""
    known = fields_for(kind)
    mapping: dict[str, str] = {}
    for value in values:
        name, sep, column = value.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not name or not column:
            raise ValueError(f"--column {value!r}: expected FIELD=COLUMN, e.g. score=Rating")
        if name not in known:
            raise ValueError(
                f"--column {value!r}: unknown field {name!r}; fields: {', '.join(known)}"
            )
        mapping[name] = column
    return mapping


@dataclass(frozen=True)
class ImportOptions:
    """How to read a history file: which kind, which source, which columns, which timezone."""

    kind: str | None = None
    source: str = "import"
    columns: Mapping[str, str] = field(default_factory=dict)
    timezone: tzinfo = UTC
    #: CX360_TIMEZONE: a date-only value is that calendar day of the business, whatever
    #: ``timezone`` says (a date has no time to convert), so it is never dated a day off.
    business_timezone: tzinfo = UTC
    csat_scale: int | None = None  # CX360_CSAT_SCALE; None: the current app's or 5
    encoding: str | None = None  # None: UTF-8 (with or without BOM), else Windows-1252
    date_format: str | None = None  # a strptime format (see date_format_option); None: ISO

    @property
    def is_rating(self) -> bool:
        return self.kind == "rating"

    def column(self, name: str) -> str:
        return self.columns.get(name, name)


@dataclass(frozen=True)
class RowError:
    """One problem of one row, printed as ``FILE:LINE: field: message``."""

    line: int
    field: str
    message: str

    def format(self, filename: str) -> str:
        return f"{filename}:{self.line}: {self.field}: {self.message}"


@dataclass
class ValidationReport:
    """Every row sorted into valid (ready for the ingest service) or rejected."""

    valid: list[dict[str, Any]] = field(default_factory=list)
    valid_lines: list[int] = field(default_factory=list)
    rejected: list[tuple[SourceRow, list[RowError]]] = field(default_factory=list)

    @property
    def errors(self) -> list[RowError]:
        return [error for _, errors in self.rejected for error in errors]

    @property
    def total(self) -> int:
        return len(self.valid) + len(self.rejected)

    def extend(self, other: ValidationReport) -> None:
        """Add the report of the rows that follow."""
        self.valid.extend(other.valid)
        self.valid_lines.extend(other.valid_lines)
        self.rejected.extend(other.rejected)


def _whole_number(value: Any) -> Any:
    if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()):
        return int(float(value))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# --date-format's names for the formats spreadsheets write; anything else with a % is taken
# as a strptime format.
NAMED_DATE_FORMATS = {
    "dd.mm.yyyy": "%d.%m.%Y",
    "dd.mm.yyyy hh:mm": "%d.%m.%Y %H:%M",
    "dd.mm.yyyy hh:mm:ss": "%d.%m.%Y %H:%M:%S",
    "dd/mm/yyyy": "%d/%m/%Y",
    "dd/mm/yyyy hh:mm": "%d/%m/%Y %H:%M",
    "mm/dd/yyyy": "%m/%d/%Y",
    "mm/dd/yyyy hh:mm": "%m/%d/%Y %H:%M",
    "yyyy-mm-dd hh:mm": "%Y-%m-%d %H:%M",
}
ISO_FORMATS = "ISO 8601 (2026-11-20, 2026-11-20 09:30 or 2026-11-20T09:30:00+01:00)"


def date_format_option(value: str) -> str:
    """The strptime format of a ``--date-format`` value: a name above or a format with %."""
    text = value.strip()
    named = NAMED_DATE_FORMATS.get(text.lower())
    if named:
        return named
    if "%" not in text:
        raise ValueError(
            f"--date-format {value!r}: expected a strptime format such as %d.%m.%Y, or one "
            f"of: {', '.join(NAMED_DATE_FORMATS)}"
        )
    return text


def accepted_dates(options: ImportOptions) -> str:
    """What a date cell may look like under these options, for an error message."""
    if options.date_format:
        names = [n for n, f in NAMED_DATE_FORMATS.items() if f == options.date_format]
        shown = f"{names[0]} ({options.date_format})" if names else options.date_format
        return f"expected --date-format {shown} or {ISO_FORMATS}"
    return (
        f"expected {ISO_FORMATS}; for another format give --date-format, e.g. "
        f"{', '.join(list(NAMED_DATE_FORMATS)[:2])} or a strptime format"
    )


#: strptime directives that carry a time of day (a format without them reads a date only).
TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%p", "%X", "%c", "%f", "%z")


def parse_datetime_cell(value: Any, options: ImportOptions) -> Any:
    """A date/time cell as ISO 8601 with a timezone; left as it is when unreadable (the schema
    then rejects it, and the import's message lists the accepted formats).

    ``--date-format`` first, then ISO 8601; a value without a timezone is taken in the
    import's timezone, a date without a time is the start of that day in the business's
    (CX360_TIMEZONE). The one place that reads dates of a file: extend it here.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    parsed: datetime | None = None
    date_only = False
    if options.date_format:
        try:
            parsed = datetime.strptime(text, options.date_format)
            date_only = not any(d in options.date_format for d in TIME_DIRECTIVES)
        except ValueError:
            parsed = None
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(text)
            date_only = len(text) == len("2026-11-21")
        except ValueError:
            return value  # the schema names the problem
    if date_only:
        return datetime.combine(parsed.date(), time(), options.business_timezone).isoformat()
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=options.timezone)
    return parsed.isoformat()


def _content_id(item: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        {k: v for k, v in item.items() if k != "source"}, sort_keys=True, default=str
    )
    return "row-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def row_item(
    values: Mapping[str, Any], options: ImportOptions, names: Sequence[str]
) -> dict[str, Any]:
    """The input dict of one row (not yet validated)."""
    item: dict[str, Any] = {}
    for name in names:
        value = values.get(options.column(name))
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if name in _INTEGER_FIELDS:
            value = _whole_number(value)
        elif name in _DATETIME_FIELDS:
            value = parse_datetime_cell(value, options)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)  # a JSON number as an id or a comment
        item[name] = value
    if not options.is_rating and "kind" not in item and options.kind:
        item["kind"] = options.kind
    if isinstance(item.get("kind"), str):
        item["kind"] = item["kind"].strip().lower()
    item.setdefault("source", options.source)
    if "external_id" not in item:
        item["external_id"] = _content_id(item)
    return item


def _messages(messages: Any, name: str = "row") -> Iterable[tuple[str, str]]:
    """Marshmallow's nested error messages as (field, message) pairs."""
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            yield from _messages(value, "row" if key == "_schema" else str(key))
    elif isinstance(messages, list | tuple):
        for message in messages:
            yield from _messages(message, name)
    else:
        yield name, str(messages)


def validate_rows(
    rows: Iterable[SourceRow],
    options: ImportOptions,
    *,
    on_row: Callable[[], None] | None = None,
) -> ValidationReport:
    """Validate every row with the API's schema; all errors are collected, none raised."""
    schema: Schema = RatingIn() if options.is_rating else ResponseIn(csat_scale=options.csat_scale)
    names = fields_for(options.kind)
    report = ValidationReport()
    for row in rows:
        if on_row is not None:
            on_row()
        if row.problem:
            report.rejected.append((row, [RowError(row.line, "row", row.problem)]))
            continue
        item = row_item(row.values, options, names)
        try:
            loaded = schema.load(item)
        except ValidationError as exc:
            errors = [
                RowError(
                    row.line,
                    _column_label(name, options),
                    _explained(name, message, row.values.get(options.column(name)), options),
                )
                for name, message in _messages(exc.messages)
            ]
            report.rejected.append((row, errors))
            continue
        report.valid.append(loaded)
        report.valid_lines.append(row.line)
    return report


def _explained(name: str, message: str, cell: Any, options: ImportOptions) -> str:
    """The schema's message, plus what to write instead for the usual spreadsheet habits."""
    if not isinstance(cell, str) or not message.startswith("Not a valid"):
        return message
    if name in _DATETIME_FIELDS:
        return f"{message.rstrip('.')}: {cell.strip()!r}; {accepted_dates(options)}."
    if name in _INTEGER_FIELDS and _DECIMAL_COMMA.fullmatch(cell.strip()):
        point = cell.strip().replace(",", ".")
        return f"{message.rstrip('.')}: {cell.strip()!r} has a decimal comma; write {point}."
    return message


def _column_label(name: str, options: ImportOptions) -> str:
    column = options.columns.get(name)
    return f"{name} (column {column!r})" if column and column != name else name


# Below this many rows one process validates; above it, every core takes a share.
PARALLEL_MIN_ROWS = 5000


def _validate_part(part: list[SourceRow], options: ImportOptions) -> ValidationReport:
    return validate_rows(part, options)


@contextmanager
def validated_parts(
    rows: list[SourceRow], options: ImportOptions, *, workers: int | None = None
) -> Iterator[Iterator[ValidationReport]]:
    """Validation reports of consecutive slices of ``rows``, in file order, as each is ready.

    Validation is CPU-bound Python (marshmallow), which threads cannot spread over cores;
    forked processes each take a slice, and the caller may store one slice while the next are
    validated. The processes are forked on entry, before the caller opens a database
    connection a child could inherit.
    """
    workers = workers or os.cpu_count() or 1
    if workers < 2 or len(rows) < PARALLEL_MIN_ROWS:
        yield iter([validate_rows(rows, options)])
        return
    size = -(-len(rows) // (workers * 4))  # a few slices per core: storing starts early
    parts = [rows[i : i + size] for i in range(0, len(rows), size)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield pool.map(_validate_part, parts, repeat(options))
