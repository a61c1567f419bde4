"""Reading and validating history files, without storage."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connector.importer.rows import (
    ERROR_COLUMN,
    CsvLayout,
    SourceRow,
    detect_format,
    read_rows,
    write_rejected,
)
from connector.importer.validation import (
    ImportOptions,
    parse_column_options,
    row_item,
    validate_rows,
)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("a.csv", "", "csv"),
        ("a.jsonl", "", "jsonl"),
        ("a.ndjson", "", "jsonl"),
        ("a.dat", '\n{"score": 1}\n', "jsonl"),
        ("a.dat", "score,email\n", "csv"),
    ],
)
def test_given_file_when_detecting_format_then_by_suffix_else_content(
    tmp_path: Path, name: str, text: str, expected: str
):
    assert detect_format(_write(tmp_path / name, text)) == expected


def test_given_csv_with_quoted_newline_and_blank_lines_when_reading_then_rows_keep_start_line(
    tmp_path: Path,
):
    path = _write(
        tmp_path / "h.csv",
        '\ufeffemail,score,comment\na@example.com,9,"two\nlines"\n\n,,\nb@example.com,3,x\n',
    )
    rows = list(read_rows(path, "csv"))
    assert [(r.line, r.values["email"]) for r in rows] == [
        (2, "a@example.com"),
        (6, "b@example.com"),
    ]
    assert rows[0].values["comment"] == "two\nlines"


def test_given_semicolon_csv_when_reading_then_delimiter_sniffed(tmp_path: Path):
    path = _write(tmp_path / "h.csv", "email;score\na@example.com;9\n")
    [row] = read_rows(path, "csv")
    assert row.values == {"email": "a@example.com", "score": "9"}


def test_given_csv_row_with_extra_cells_when_reading_then_row_has_a_problem(tmp_path: Path):
    path = _write(tmp_path / "h.csv", "email,score\na@example.com,9,oops\n")
    [row] = read_rows(path, "csv")
    assert row.problem and "3 cells" in row.problem


def test_given_jsonl_with_bad_lines_when_reading_then_each_line_reported(tmp_path: Path):
    path = _write(tmp_path / "h.jsonl", '{"score": 9}\n\n{oops\n[1]\n')
    rows = list(read_rows(path, "jsonl"))
    assert [(r.line, r.problem is None) for r in rows] == [(1, True), (3, False), (4, False)]


@pytest.mark.parametrize(
    ("values", "error"),
    [
        (["score=Rating", "email = Mail"], None),
        (["score"], "FIELD=COLUMN"),
        (["=Rating"], "FIELD=COLUMN"),
        (["colour=Farbe"], "unknown field 'colour'"),
    ],
)
def test_given_column_options_when_parsing_then_mapping_or_error(
    values: list[str], error: str | None
):
    if error is None:
        assert parse_column_options(values, "nps") == {"score": "Rating", "email": "Mail"}
    else:
        with pytest.raises(ValueError, match=error):
            parse_column_options(values, "nps")


def test_given_rating_kind_when_parsing_columns_then_rating_fields_known():
    assert parse_column_options(["relationship=Beziehung"], "rating") == {
        "relationship": "Beziehung"
    }
    with pytest.raises(ValueError):
        parse_column_options(["relationship=Beziehung"], "nps")


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("9", 9), (" 9 ", 9), ("9.0", 9), ("9.5", "9.5"), ("nine", "nine"), (9.0, 9), (9, 9)],
)
def test_given_spreadsheet_number_when_building_item_then_whole_numbers_become_int(
    cell: object, expected: object
):
    item = row_item({"score": cell}, ImportOptions(kind="nps"), ("kind", "score"))
    assert item["score"] == expected


@pytest.mark.parametrize(
    ("cell", "zone", "expected"),
    [
        ("2024-03-01", UTC, "2024-03-01T00:00:00+00:00"),
        ("2024-03-01 10:30", ZoneInfo("Europe/Berlin"), "2024-03-01T10:30:00+01:00"),
        ("2024-03-01T10:30:00Z", ZoneInfo("Europe/Berlin"), "2024-03-01T10:30:00+00:00"),
        ("01/03/2024", UTC, "01/03/2024"),
    ],
)
def test_given_date_cell_when_building_item_then_naive_dates_take_import_timezone(
    cell: str, zone: ZoneInfo, expected: str
):
    item = row_item({"answered_at": cell}, ImportOptions(timezone=zone), ("answered_at",))
    assert item["answered_at"] == expected


def test_given_rows_without_external_id_when_building_items_then_id_from_content():
    options = ImportOptions(kind="nps", source="sheet")
    names = ("kind", "score", "email", "external_id")
    first = row_item({"score": "9", "email": "a@example.com"}, options, names)
    again = row_item({"score": "9", "email": "a@example.com"}, options, names)
    other = row_item({"score": "8", "email": "a@example.com"}, options, names)
    assert first["source"] == "sheet"
    assert first["external_id"] == again["external_id"] != other["external_id"]
    given = row_item({"score": "9", "external_id": "x-1"}, options, names)
    assert given["external_id"] == "x-1"


def test_given_mixed_rows_when_validating_then_every_error_named_by_line_and_field(
    tmp_path: Path,
):
    path = _write(
        tmp_path / "h.csv",
        "Mail,Rating,kind,when\n"
        "a@example.com,9,nps,2024-01-01\n"
        "not-an-email,11,nps,2024-01-02\n"
        "c@example.com,3,ces,\n"
        "d@example.com,,csat,yesterday\n"
        "e@example.com,11,nps,\n",
    )
    options = ImportOptions(columns={"email": "Mail", "score": "Rating", "answered_at": "when"})
    report = validate_rows(read_rows(path, "csv"), options)
    assert [item["email"] for item in report.valid] == ["a@example.com"]
    assert report.valid[0]["answered_at"] == datetime(2024, 1, 1, tzinfo=UTC)
    shown = sorted(error.format("h.csv") for error in report.errors)
    assert shown == [
        "h.csv:3: email (column 'Mail'): Not a valid email address.",
        "h.csv:3: score (column 'Rating'): Must be between 0 and 10 for kind nps.",
        "h.csv:4: kind: Must be one of: nps, csat.",
        "h.csv:5: answered_at (column 'when'): Not a valid datetime: 'yesterday'; expected "
        "ISO 8601 (2026-11-20, 2026-11-20 09:30 or 2026-11-20T09:30:00+01:00); for another "
        "format give --date-format, e.g. dd.mm.yyyy, dd.mm.yyyy hh:mm or a strptime format.",
        "h.csv:5: score (column 'Rating'): Missing data for required field.",
        "h.csv:6: score (column 'Rating'): Must be between 0 and 10 for kind nps.",
    ]


def test_given_rating_rows_when_validating_then_rating_schema_applies(tmp_path: Path):
    path = _write(
        tmp_path / "r.jsonl",
        json.dumps({"employee": "Rep@Example.com", "email": "a@example.com", "relationship": 8,
                    "potential": 3}) + "\n"
        + json.dumps({"employee": "rep@example.com", "email": "a@example.com", "relationship": 8,
                      "potential": 30}) + "\n"
        + json.dumps({"employee": "rep@example.com", "relationship": 8, "potential": 3}) + "\n",
    )  # fmt: skip
    report = validate_rows(read_rows(path, "jsonl"), ImportOptions(kind="rating"))
    assert report.valid[0]["employee"] == "rep@example.com"
    assert [(error.line, error.field) for error in report.errors] == [
        (2, "potential"),
        (3, "email"),
    ]


@pytest.mark.parametrize("file_format", ["csv", "jsonl"])
def test_given_rejected_rows_when_writing_then_same_format_with_error_column(
    tmp_path: Path, file_format: str
):
    rows = [(SourceRow(3, {"email": "x", "score": "11"}), "score: too high")]
    path = tmp_path / f"rejected.{file_format}"
    write_rejected(path, file_format, rows, CsvLayout("utf-8", ",", ["email", "score"]))  # type: ignore[arg-type]
    back = list(read_rows(path, file_format))  # type: ignore[arg-type]
    assert back[0].values[ERROR_COLUMN] == "score: too high"
    assert str(back[0].values["score"]) == "11"


def test_given_large_file_when_validating_in_parallel_then_same_result_in_file_order(
    tmp_path: Path,
):
    from connector.importer.rows import read_rows
    from connector.importer.validation import (
        PARALLEL_MIN_ROWS,
        ImportOptions,
        ValidationReport,
        validate_rows,
        validated_parts,
    )

    path = tmp_path / "big.csv"
    lines = ["external_id,email,score,kind"]
    for i in range(PARALLEL_MIN_ROWS + 123):
        score = "eleven" if i % 997 == 0 else str(i % 11)
        lines.append(f"{i},p{i}@example.com,{score},nps")
    path.write_text("\n".join(lines) + "\n")
    rows = list(read_rows(path, "csv"))
    options = ImportOptions(source="big")
    serial = validate_rows(rows, options)
    advanced: list[int] = []
    parallel = ValidationReport()
    with validated_parts(rows, options, workers=2) as parts:
        for part in parts:
            parallel.extend(part)
            advanced.append(part.total)
    assert len(advanced) > 1, "validated in several slices"
    assert parallel.valid == serial.valid
    assert parallel.valid_lines == serial.valid_lines
    assert [(r.line, [e.format("big.csv") for e in errs]) for r, errs in parallel.rejected] == [
        (r.line, [e.format("big.csv") for e in errs]) for r, errs in serial.rejected
    ]
    assert len(parallel.rejected) == 6 and sum(advanced) == len(rows)


def test_given_date_format_when_a_cell_matches_neither_then_message_names_both_formats(
    tmp_path: Path,
):
    path = _write(
        tmp_path / "h.csv", "email,score,kind,answered_at\na@example.com,9,nps,20.11.26\n"
    )
    options = ImportOptions(date_format="%d.%m.%Y")
    [error] = validate_rows(read_rows(path, "csv"), options).errors
    assert error.format("h.csv") == (
        "h.csv:2: answered_at: Not a valid datetime: '20.11.26'; expected --date-format "
        "dd.mm.yyyy (%d.%m.%Y) or ISO 8601 (2026-11-20, 2026-11-20 09:30 or "
        "2026-11-20T09:30:00+01:00)."
    )
    good = _write(
        tmp_path / "g.csv", "email,score,kind,answered_at\na@example.com,9,nps,20.11.2026\n"
    )
    [item] = validate_rows(read_rows(good, "csv"), options).valid
    assert item["answered_at"] == datetime(2026, 11, 20, tzinfo=UTC)
