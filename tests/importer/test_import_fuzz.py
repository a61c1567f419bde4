"""Round trip of ``cx360 import``: what a standard CSV writer wrote is what gets stored.

Hypothesis writes cells of arbitrary text (comment, touchpoint, channel), rich in quotes,
delimiters and line breaks, with
Python's ``csv.writer`` (the dialect of Excel, Google Sheets and the survey tools' exports)
under each delimiter and encoding the importer reads; the import into SQLite must store every
cell as written (less the blanks around it, which every text field drops).
"""

from __future__ import annotations

import csv
import io
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from connector.importer.run import import_file
from connector.importer.validation import ImportOptions
from connector.scoring import ScoringConfig
from connector.storage import Database, Response
from connector.storage.schema import create_schema

ENCODINGS = ["utf-8", "utf-8-sig", "cp1252"]
DELIMITERS = [",", ";", "\t"]
# What CSV quoting is about, drawn often; then any character the encoding can write.
TRICKY = st.sampled_from(['"', '""', ",", ";", "\t", "\n", "\r\n", "\r", " ", "'", "ä", "€"])
CP1252_CHARACTERS = "".join(
    ch for ch in bytes(range(1, 256)).decode("cp1252", errors="ignore") if ch
)


def cells(encoding: str) -> st.SearchStrategy[str]:
    if encoding == "cp1252":
        anything = st.sampled_from(CP1252_CHARACTERS)
    else:
        anything = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
    return st.lists(st.one_of(TRICKY, anything), max_size=12).map("".join)


@pytest.fixture(scope="module")
def database() -> Iterator[tuple[Database, Path]]:
    with tempfile.TemporaryDirectory(prefix="cx360-fuzz-") as folder:
        db = Database(f"sqlite:///{Path(folder) / 'fuzz.db'}")
        create_schema(db)
        try:
            yield db, Path(folder)
        finally:
            db.dispose()


TEXT_COLUMNS = ("comment", "touchpoint", "channel")


def _stored_cells(db: Database, ids: list[str]) -> list[tuple[str | None, ...]]:
    columns = [getattr(Response, name) for name in TEXT_COLUMNS]
    with db.session() as session:
        stored = session.execute(
            select(Response.external_id, *columns).where(Response.external_id.in_(ids))
        ).all()
    by_id = {external_id: tuple(cells) for external_id, *cells in stored}
    return [by_id[i] for i in ids]


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), encoding=st.sampled_from(ENCODINGS), delimiter=st.sampled_from(DELIMITERS))
def test_given_csv_written_by_a_standard_writer_when_imported_then_every_cell_stored_as_written(
    database: tuple[Database, Path], data: st.DataObject, encoding: str, delimiter: str
):
    db, folder = database
    row_cells = st.tuples(*(cells(encoding) for _ in TEXT_COLUMNS))
    rows = data.draw(st.lists(row_cells, min_size=1, max_size=6), label="rows")
    name_encoding = data.draw(st.booleans(), label="--encoding given")
    run = uuid.uuid4().hex[:12]
    ids = [f"{run}-{n}" for n in range(len(rows))]
    text = io.StringIO(newline="")
    writer = csv.writer(text, delimiter=delimiter)
    writer.writerow(["external_id", "kind", "score", "email", *TEXT_COLUMNS])
    for external_id, texts in zip(ids, rows, strict=True):
        writer.writerow([external_id, "nps", 7, f"p{external_id}@example.org", *texts])
    content = text.getvalue().encode(encoding)
    if encoding == "cp1252" and not name_encoding:
        # Detection reads valid UTF-8 as UTF-8: a Windows-1252 text that happens to be valid
        # UTF-8 too (rare outside ASCII) is what --encoding is for.
        try:
            content.decode("utf-8")
            assume(content.isascii())
        except UnicodeDecodeError:
            pass
    path = folder / f"{run}.csv"
    path.write_bytes(content)

    summary = import_file(
        db,
        path,
        ImportOptions(source="fuzz", encoding=encoding if name_encoding else None),
        now=datetime.now(UTC),
        scoring=ScoringConfig(),
    )

    assert summary.rejected == 0 and summary.stored == len(rows)
    expected = [tuple(cell.strip() or None for cell in texts) for texts in rows]
    assert _stored_cells(db, ids) == expected
