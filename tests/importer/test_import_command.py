"""``cx360 import`` end to end on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from connector.cli import main
from connector.importer.rows import ERROR_COLUMN
from connector.storage import Database, EmployeeRating, OutboxItem, Response, Scorecard

SAMPLE = Path(__file__).resolve().parents[2] / "connector" / "sample_data"


@pytest.fixture
def run(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {"CX360_DATABASE_URL": database_url, "CX360_INSTANCE_PATH": str(tmp_path / "inst")}

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, ["import", *args], env=env, catch_exceptions=False)

    return invoke


# A spreadsheet export: its own column names, local times without a timezone.
SHEET_OPTIONS = (
    "--kind", "nps", "--source", "sheet",
    "--column", "external_id=Response ID", "--column", "email=Mail",
    "--column", "score=Rating", "--column", "comment=Why", "--column", "answered_at=Date",
    "--timezone", "Europe/Berlin",
)  # fmt: skip


def _count(database_url: str, model: object) -> int:
    db = Database(database_url)
    try:
        with db.session() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)  # type: ignore[arg-type]
    finally:
        db.dispose()


def _responses(database_url: str) -> list[Response]:
    db = Database(database_url)
    try:
        with db.session() as session:
            return list(session.scalars(select(Response).order_by(Response.external_id)))
    finally:
        db.dispose()


def _sheet(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


HEADER = ["Response ID", "Mail", "Rating", "Why", "Date"]


def test_given_spreadsheet_with_own_column_names_when_importing_then_rows_stored(
    run, database_url: str, tmp_path: Path
):
    path = _sheet(
        tmp_path / "history.csv",
        [
            HEADER,
            ["1", "Ana@Example.com", "9", "Great", "2024-03-01 09:00"],
            ["2", "bo@example.com", "4", "", "2024-03-02"],
        ],
    )
    result = run(str(path), *SHEET_OPTIONS)
    assert result.exit_code == 0, result.output
    assert "2 of 2 rows imported" in result.output
    first, second = _responses(database_url)
    assert (first.source, first.external_id, first.kind, first.score) == ("sheet", "1", "nps", 9)
    assert first.comment == "Great" and second.comment is None
    assert first.answered_at.isoformat() == "2024-03-01T08:00:00+00:00"
    # scoring and pushing is the worker's (the outbox), unless --recompute
    assert _count(database_url, OutboxItem) >= 2
    assert _count(database_url, Scorecard) == 0
    again = run(str(path), *SHEET_OPTIONS, "--recompute")
    assert again.exit_code == 0, again.output
    assert _count(database_url, Scorecard) >= 2


def test_given_people_in_many_chunks_when_importing_then_one_outbox_row_per_person(
    run, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # one row per chunk: also the size that PostgreSQL stores by its one-item function
    monkeypatch.setattr("connector.importer.run.STORE_CHUNK", 1)
    emails = ["ana@example.com", "bo@example.com", "cy@example.com"]
    rows = [[str(n), emails[n % 3], str(n % 11), "", "2024-03-01"] for n in range(12)]
    result = run(str(_sheet(tmp_path / "history.csv", [HEADER, *rows])), *SHEET_OPTIONS)
    assert result.exit_code == 0, result.output
    db = Database(database_url)
    try:
        with db.session() as session:
            subjects = session.execute(select(OutboxItem.subject_type, OutboxItem.subject_id)).all()
            contacts = {r.contact_id for r in session.scalars(select(Response))}
    finally:
        db.dispose()
    assert len(contacts) == 3
    assert sorted(subjects) == sorted(("contact", c) for c in contacts)


def test_given_same_file_imported_twice_when_importing_then_nothing_duplicated(
    run, database_url: str
):
    path = SAMPLE / "responses.jsonl"
    lines = sum(1 for line in path.read_text().splitlines() if line.strip())
    assert run(str(path)).exit_code == 0
    stored = _count(database_url, Response)

    again = run(str(path))

    assert again.exit_code == 0, again.output
    assert f"0 new, 0 updated, {lines} unchanged" in again.output
    assert _count(database_url, Response) == stored


def test_given_rows_without_external_id_imported_twice_when_importing_then_not_duplicated(
    run, database_url: str, tmp_path: Path
):
    path = _sheet(tmp_path / "h.csv", [["email", "score"], ["a@example.com", "7"]])
    assert run(str(path), "--kind", "nps").exit_code == 0
    assert run(str(path), "--kind", "nps").exit_code == 0
    assert _count(database_url, Response) == 1


def test_given_changed_row_with_same_external_id_when_reimporting_then_updated(
    run, database_url: str, tmp_path: Path
):
    path = tmp_path / "h.jsonl"
    row = {"external_id": "r1", "kind": "nps", "score": 6, "email": "a@example.com"}
    path.write_text(json.dumps(row) + "\n")
    assert run(str(path)).exit_code == 0
    path.write_text(json.dumps(row | {"comment": "added later"}) + "\n")
    result = run(str(path))
    assert "0 new, 1 updated" in result.output
    [stored] = _responses(database_url)
    assert stored.comment == "added later"


def test_given_invalid_rows_when_importing_then_errors_by_line_and_nothing_stored(
    run, database_url: str, tmp_path: Path
):
    path = _sheet(
        tmp_path / "bad.csv",
        [
            ["email", "score", "kind"],
            ["a@example.com", "9", "nps"],
            ["b@example.com", "12", "nps"],
            ["c@example", "5", "csat"],
        ],
    )
    result = run(str(path))
    assert result.exit_code == 1
    assert f"{path}:3: score: Must be between 0 and 10 for kind nps." in result.output
    assert f"{path}:4: email: Not a valid email address." in result.output
    assert "2 of 3 rows are invalid; nothing was imported" in result.output
    assert _count(database_url, Response) == 0


def test_given_skip_invalid_when_importing_then_valid_stored_and_rejected_file_written(
    run, database_url: str, tmp_path: Path
):
    path = _sheet(
        tmp_path / "bad.csv",
        [
            ["email", "score", "kind", "note"],
            ["a@example.com", "9", "nps", "keep"],
            ["b@example.com", "12", "nps", "fix me"],
        ],
    )
    result = run(str(path), "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert "1 of 2 rows imported" in result.output
    rejected = tmp_path / "bad.rejected.csv"
    assert str(rejected) in result.output.replace("\n", "")
    with rejected.open(newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert (row["email"], row["score"], row["note"]) == ("b@example.com", "12", "fix me")
    assert "score" in row[ERROR_COLUMN]
    assert _count(database_url, Response) == 1


def test_given_rating_file_when_importing_with_kind_rating_then_employee_ratings_stored(
    run, database_url: str
):
    path = SAMPLE / "ratings.jsonl"
    lines = sum(1 for line in path.read_text().splitlines() if line.strip())
    result = run(str(path), "--kind", "rating")
    assert result.exit_code == 0, result.output
    assert _count(database_url, EmployeeRating) == lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--column", "score=Rating"], "'Rating' (for score) not in the header"),
        (["--column", "colour=Farbe"], "unknown field 'colour'"),
        (["--timezone", "Mars/Olympus"], "unknown timezone"),
    ],
)
def test_given_bad_options_when_importing_then_clear_error(
    run, tmp_path: Path, args: list[str], message: str
):
    path = _sheet(tmp_path / "h.csv", [["email", "score"], ["a@example.com", "7"]])
    result = run(str(path), "--kind", "nps", *args)
    assert result.exit_code != 0
    assert message in result.output


def test_given_csat_scale_configured_when_importing_then_ratings_checked_against_it(
    database_url: str, tmp_path: Path
):
    path = _sheet(
        tmp_path / "csat.csv",
        [
            ["external_id", "email", "score"],
            ["1", "a@example.com", "8"],
            ["2", "b@example.com", "11"],
        ],
    )
    env = {
        "CX360_DATABASE_URL": database_url,
        "CX360_INSTANCE_PATH": str(tmp_path / "inst"),
        "CX360_CSAT_SCALE": "10",
    }
    result = CliRunner().invoke(main, ["import", str(path), "--kind", "csat"], env=env)
    # 8 fits the configured 1..10 scale (not the default 1..5); 11 does not, and is named
    assert result.exit_code != 0
    assert "csat.csv:3: score" in result.output and "between 1 and 10" in result.output
    assert "csat.csv:2" not in result.output
    assert _count(database_url, Response) == 0


# --- Real exports (issue 18): standard quoting, German spreadsheets, empty files -------------

EXPORT_HEADER = "external_id,kind,score,email,account_domain,answered_at,comment"


def _text_file(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_given_doubled_quotes_around_a_delimiter_when_importing_then_comment_stored_whole(
    run, database_url: str, tmp_path: Path
):
    path = _text_file(
        tmp_path / "quotes.csv",
        f"{EXPORT_HEADER}\n"
        'q-1,nps,8,quote1@example.org,,2020-02-02T10:00:00+00:00,"Sagte: ""sehr gut"", danke"\n'
        'q-2,nps,9,quote2@example.org,,2020-02-02T10:00:00+00:00,"Er sagte ""super"" und ging"\n',
    )
    result = run(str(path))
    assert result.exit_code == 0, result.output
    assert [r.comment for r in _responses(database_url)] == [
        'Sagte: "sehr gut", danke',
        'Er sagte "super" und ging',
    ]


def test_given_bom_and_quoted_newline_in_semicolon_file_when_importing_then_stored_as_written(
    run, database_url: str, tmp_path: Path
):
    path = _text_file(
        tmp_path / "excel.csv",
        "\ufeffexternal_id;kind;score;email;comment\r\n"
        'n-1;nps;10;nl@example.org;"Erste Zeile\r\nzweite; mit ""Zitat"""\r\n',
    )
    result = run(str(path))
    assert result.exit_code == 0, result.output
    [response] = _responses(database_url)
    assert response.comment == 'Erste Zeile\r\nzweite; mit "Zitat"'


GERMAN_EXCEL = (
    "Antwort;Mail;Bewertung;Datum;Kommentar\r\n"
    "g-1;anna@example.de;9;20.11.2026 14:30;Schön, weiter so\r\n"
    "g-2;bernd@example.de;7,0;21.11.2026 08:05;Größe passt\r\n"
)
GERMAN_OPTIONS = (
    "--kind", "nps",
    "--column", "external_id=Antwort", "--column", "email=Mail", "--column", "score=Bewertung",
    "--column", "answered_at=Datum", "--column", "comment=Kommentar",
    "--timezone", "Europe/Berlin",
)  # fmt: skip


def test_given_german_excel_file_when_importing_with_date_format_then_dates_and_umlauts_right(
    run, database_url: str, tmp_path: Path
):
    path = _text_file(tmp_path / "umfrage.csv", GERMAN_EXCEL.replace("7,0", "7"), "cp1252")
    result = run(str(path), *GERMAN_OPTIONS, "--date-format", "dd.mm.yyyy hh:mm")
    assert result.exit_code == 0, result.output
    first, second = _responses(database_url)
    assert first.comment == "Schön, weiter so" and second.comment == "Größe passt"
    assert first.answered_at is not None
    # 14:30 in Berlin in November (CET, UTC+1) is 13:30 UTC
    assert first.answered_at.replace(tzinfo=None).isoformat() == "2026-11-20T13:30:00"


@pytest.mark.parametrize("given", ["%d.%m.%Y %H:%M", "DD.MM.YYYY HH:MM"])
def test_given_date_format_as_strptime_or_name_when_importing_then_both_read(
    run, database_url: str, tmp_path: Path, given: str
):
    path = _text_file(tmp_path / "u.csv", GERMAN_EXCEL.replace("7,0", "7"), "cp1252")
    result = run(str(path), *GERMAN_OPTIONS, "--encoding", "cp1252", "--date-format", given)
    assert result.exit_code == 0, result.output
    assert _count(database_url, Response) == 2


def test_given_german_dates_without_date_format_when_importing_then_accepted_formats_listed(
    run, database_url: str, tmp_path: Path
):
    path = _text_file(tmp_path / "umfrage.csv", GERMAN_EXCEL, "cp1252")
    result = run(str(path), *GERMAN_OPTIONS)
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert f"{path}:2: answered_at (column 'Datum'): Not a valid datetime: '20.11.2026 14:30'" in (
        output
    )
    assert "expected ISO 8601" in output and "--date-format" in output
    assert "dd.mm.yyyy hh:mm" in output
    assert f"{path}:3: score (column 'Bewertung'): Not a valid integer: '7,0' has a decimal " in (
        output
    )
    assert "comma; write 7.0." in output
    assert _count(database_url, Response) == 0


def test_given_semicolon_windows_1252_file_when_skipping_invalid_then_rejected_file_written_alike(
    run, database_url: str, tmp_path: Path
):
    path = _text_file(tmp_path / "umfrage.csv", GERMAN_EXCEL, "cp1252")
    result = run(str(path), *GERMAN_OPTIONS, "--date-format", "dd.mm.yyyy hh:mm", "--skip-invalid")
    assert result.exit_code == 0, result.output
    rejected = tmp_path / "umfrage.rejected.csv"
    text = rejected.read_bytes().decode("cp1252")
    lines = text.split("\r\n")
    assert lines[0] == "Antwort;Mail;Bewertung;Datum;Kommentar;cx360_error"
    assert lines[1].startswith("g-2;bernd@example.de;7,0;21.11.2026 08:05;Größe passt;")
    assert "decimal comma" in lines[1]
    assert _count(database_url, Response) == 1


@pytest.mark.parametrize("content", ["", "\n\n", "\ufeff"])
def test_given_empty_file_when_importing_then_says_the_file_is_empty(
    run, tmp_path: Path, content: str
):
    path = _text_file(tmp_path / "leer.csv", content)
    result = run(str(path), "--kind", "nps", "--column", "score=Rating")
    assert result.exit_code == 1
    assert f"{path}: the file is empty; expected a header line, then rows" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--encoding", "klingon"], "unknown encoding 'klingon'"),
        (["--date-format", "tt.mm.jjjj"], "expected a strptime format such as %d.%m.%Y"),
        (["--encoding", "utf-8"], "not utf-8 text (invalid start byte at byte"),
    ],
)
def test_given_bad_encoding_or_date_format_when_importing_then_clear_error(
    run, tmp_path: Path, args: list[str], message: str
):
    path = _text_file(tmp_path / "umfrage.csv", GERMAN_EXCEL, "cp1252")
    result = run(str(path), *GERMAN_OPTIONS, *args)
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("business", "timezone_option"),
    [
        ("Europe/Berlin", ("--timezone", "Europe/Berlin")),
        ("Europe/Berlin", ()),
        # --timezone other than CX360_TIMEZONE: a date has no time to convert, so the day
        # stays (midnight in New York is 06:00 in Berlin, in Pago Pago the next day at Kiritimati)
        ("Europe/Berlin", ("--timezone", "America/New_York")),
        ("Pacific/Kiritimati", ("--timezone", "Pacific/Pago_Pago")),
        ("Pacific/Pago_Pago", ("--timezone", "Pacific/Kiritimati")),
    ],
)
def test_given_date_only_value_when_importing_then_same_day_on_scorecard(
    database_url: str, tmp_path: Path, business: str, timezone_option: tuple[str, ...]
) -> None:
    # DESIGN.md "Dates": a date-only import is the business zone's day; --timezone defaults to
    # CX360_TIMEZONE. Midnight in Berlin is 23:00 UTC the day before: never dated a day early.
    env = {
        "CX360_DATABASE_URL": database_url,
        "CX360_INSTANCE_PATH": str(tmp_path / "inst"),
        "CX360_TIMEZONE": business,
    }
    sheet = _sheet(
        tmp_path / "dates.csv", [HEADER, ["d-1", "lena@kunde.example", "9", "", "2026-11-21"]]
    )
    options = [o for o in SHEET_OPTIONS if o not in ("--timezone", "Europe/Berlin")]
    result = CliRunner().invoke(
        main,
        ["import", str(sheet), *options, *timezone_option, "--recompute"],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output

    db = Database(database_url)
    try:
        with db.session() as session:
            card = session.scalars(
                select(Scorecard).where(Scorecard.subject_type == "contact")
            ).one()
            assert card.values["nps.date"] == "2026-11-21"
            assert card.values["survey.last_date"] == "2026-11-21"
    finally:
        db.dispose()
