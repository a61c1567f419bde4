"""Reading history files (CSV or JSON lines) row by row, with the line each row starts on."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

FileFormat = Literal["csv", "jsonl"]
_SUFFIXES: dict[str, FileFormat] = {
    ".csv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
ERROR_COLUMN = "cx360_error"


class FileFormatError(ValueError):
    """The file as a whole cannot be read (not a row-level problem)."""


@dataclass(frozen=True)
class SourceRow:
    """One record of the file: where it starts and its values by column name.

    ``problem`` is set when the line itself is unreadable (bad JSON, not an object).
    """

    line: int
    values: dict[str, Any]
    problem: str | None = None


def detect_format(path: Path) -> FileFormat:
    """By suffix; otherwise a file whose first non-blank character is ``{`` is JSON lines."""
    known = _SUFFIXES.get(path.suffix.lower())
    if known:
        return known
    with path.open(encoding="utf-8-sig") as handle:
        for line in handle:
            if line.strip():
                return "jsonl" if line.lstrip().startswith("{") else "csv"
    return "csv"


def csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle, _dialect(handle)), [])


def _dialect(handle: Any) -> type[csv.Dialect]:
    # Spreadsheets in many locales export ';'-separated files; sniff the first line only.
    start = handle.tell()
    first = handle.readline()
    handle.seek(start)
    try:
        return csv.Sniffer().sniff(first, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def read_rows(path: Path, file_format: FileFormat) -> Iterator[SourceRow]:
    """Every record of the file; blank lines skipped, a UTF-8 BOM tolerated."""
    try:
        if file_format == "csv":
            yield from _csv_rows(path)
        else:
            yield from _jsonl_rows(path)
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def _csv_rows(path: Path) -> Iterator[SourceRow]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, _dialect(handle))
        header = next(reader, None)
        if not header:
            return
        header = [name.strip() for name in header]
        start = reader.line_num + 1
        try:
            for record in reader:
                line, start = start, reader.line_num + 1
                if not any(cell.strip() for cell in record):
                    continue
                if len(record) > len(header):
                    yield SourceRow(
                        line,
                        dict(zip(header, record, strict=False)),
                        f"{len(record)} cells but the header has {len(header)} columns",
                    )
                    continue
                yield SourceRow(line, dict(zip(header, record, strict=False)))
        except csv.Error as exc:
            raise FileFormatError(f"{path}:{reader.line_num}: {exc}") from exc


def _jsonl_rows(path: Path) -> Iterator[SourceRow]:
    with path.open(encoding="utf-8-sig") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield SourceRow(number, {"_raw": text.rstrip("\n")}, f"malformed JSON: {exc.msg}")
                continue
            if not isinstance(value, dict):
                yield SourceRow(number, {"_raw": text.rstrip("\n")}, "expected a JSON object")
                continue
            yield SourceRow(number, value)


def write_rejected(
    path: Path,
    file_format: FileFormat,
    rows: Sequence[tuple[SourceRow, str]],
    header: Sequence[str] = (),
) -> None:
    """The rejected rows in the input's own format plus an error column, ready to fix."""
    if file_format == "csv":
        columns = [*header] or sorted({k for row, _ in rows for k in row.values})
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, [*columns, ERROR_COLUMN], extrasaction="ignore")
            writer.writeheader()
            for row, error in rows:
                writer.writerow({**row.values, ERROR_COLUMN: error})
        return
    with path.open("w", encoding="utf-8") as handle:
        for row, error in rows:
            if "_raw" in row.values and row.problem:
                handle.write(json.dumps({"_raw": row.values["_raw"], ERROR_COLUMN: error}) + "\n")
            else:
                handle.write(json.dumps({**row.values, ERROR_COLUMN: error}) + "\n")
