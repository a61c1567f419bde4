"""Reading history files (CSV or JSON lines) row by row, with the line each row starts on."""

from __future__ import annotations

import codecs
import csv
import io
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
    with path.open("rb") as handle:
        for line in handle:
            text = line.removeprefix(codecs.BOM_UTF8).strip()
            if text:
                return "jsonl" if text.startswith(b"{") else "csv"
    return "csv"


@dataclass(frozen=True)
class CsvLayout:
    """How a CSV file is written: the rejected file is written the same way, to open alike."""

    encoding: str
    delimiter: str
    header: list[str]


# Spreadsheets in many locales export ';'-separated files, some tab-separated.
DELIMITERS = ",;\t"
# A file that is not UTF-8 is taken as Windows-1252: Excel's default in Western Europe.
FALLBACK_ENCODING = "cp1252"


def decode(path: Path, encoding: str | None = None) -> tuple[str, str]:
    """The file's text and its encoding: ``encoding``, else UTF-8 (with or without a BOM),
    else Windows-1252. A BOM is never part of the text."""
    data = path.read_bytes()
    has_bom = data.startswith(codecs.BOM_UTF8)
    candidates = [encoding] if encoding else ["utf-8", FALLBACK_ENCODING]
    for candidate in candidates:
        if has_bom and codecs.lookup(candidate).name == "utf-8":
            candidate = "utf-8-sig"
        try:
            return data.decode(candidate), candidate
        except UnicodeDecodeError as exc:
            reason = f"{exc.reason} at byte {exc.start}"
    named = f"not {encoding} text" if encoding else "neither UTF-8 nor Windows-1252 text"
    raise FileFormatError(f"{path}: {named} ({reason}); name its encoding with --encoding")


def _delimiter(first_line: str) -> str:
    """Only the delimiter is guessed (from the header); quoting is the standard one, quotes
    doubled inside quoted cells, as every spreadsheet and survey tool writes it."""
    try:
        return csv.Sniffer().sniff(first_line, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def _reader(text: str) -> tuple[Any, str]:
    handle = io.StringIO(text, newline="")
    delimiter = _delimiter(handle.readline())
    handle.seek(0)
    return csv.reader(handle, "excel", delimiter=delimiter), delimiter


def _empty(path: Path) -> FileFormatError:
    return FileFormatError(f"{path}: the file is empty; expected a header line, then rows")


def _open_csv(path: Path, encoding: str | None) -> tuple[Any, CsvLayout]:
    """A reader past the header, and the file's layout (an empty file is an error)."""
    text, used = decode(path, encoding)
    reader, delimiter = _reader(text)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise FileFormatError(f"{path}:{reader.line_num}: {exc}") from exc
    if not header or not any(name.strip() for name in header):
        raise _empty(path)
    return reader, CsvLayout(used, delimiter, [name.strip() for name in header])


def csv_layout(path: Path, encoding: str | None = None) -> CsvLayout:
    """The encoding, delimiter and header of a CSV file."""
    return _open_csv(path, encoding)[1]


def read_rows(
    path: Path, file_format: FileFormat, encoding: str | None = None
) -> Iterator[SourceRow]:
    """Every record of the file; blank lines skipped. ``encoding``: see :func:`decode`."""
    if file_format == "csv":
        yield from _csv_rows(path, encoding)
    else:
        yield from _jsonl_rows(path, encoding)


def _csv_rows(path: Path, encoding: str | None) -> Iterator[SourceRow]:
    reader, layout = _open_csv(path, encoding)
    header = layout.header
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


def _jsonl_rows(path: Path, encoding: str | None) -> Iterator[SourceRow]:
    content = decode(path, encoding)[0]
    if not content.strip():
        raise FileFormatError(f"{path}: the file is empty; expected one JSON object per line")
    # JSON lines end at \n only (a \u2028 inside a string is text, not a line end)
    for number, text in enumerate(content.split("\n"), start=1):
        if not text.strip():
            continue
        raw = text.rstrip("\r")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            yield SourceRow(number, {"_raw": raw}, f"malformed JSON: {exc.msg}")
            continue
        if not isinstance(value, dict):
            yield SourceRow(number, {"_raw": raw}, "expected a JSON object")
            continue
        yield SourceRow(number, value)


def write_rejected(
    path: Path,
    file_format: FileFormat,
    rows: Sequence[tuple[SourceRow, str]],
    layout: CsvLayout | None = None,
) -> None:
    """The rejected rows in the input's own format plus an error column, ready to fix.

    A CSV keeps the input's encoding, delimiter and header, so that the spreadsheet that
    wrote the file opens it the same way (German Excel: ';' and Windows-1252).
    """
    if file_format == "csv":
        layout = layout or CsvLayout(
            "utf-8", ",", sorted({k for row, _ in rows for k in row.values})
        )
        # errors="replace": an error message may hold a character the encoding has not
        with path.open("w", newline="", encoding=layout.encoding, errors="replace") as handle:
            writer = csv.writer(handle, "excel", delimiter=layout.delimiter)
            writer.writerow([*layout.header, ERROR_COLUMN])
            for row, error in rows:
                writer.writerow([*(row.values.get(n, "") for n in layout.header), error])
        return
    with path.open("w", encoding="utf-8") as handle:
        for row, error in rows:
            if "_raw" in row.values and row.problem:
                handle.write(json.dumps({"_raw": row.values["_raw"], ERROR_COLUMN: error}) + "\n")
            else:
                handle.write(json.dumps({**row.values, ERROR_COLUMN: error}) + "\n")
