"""Importing a history file: read, validate every row, store (and recompute) in one go.

Nothing is stored while any row is invalid, unless the caller asks to skip invalid rows (they
are written to a "rejected" file in the input's format, with the reason per row). Storing uses
the ingest service, so an import is idempotent on ``(source, external_id)`` like the API, and
writes the outbox rows that make the pipeline push the new scores.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from pathlib import Path

from rich.progress import Progress, TaskID
from sqlalchemy.orm import Session

from connector.batching import chunked
from connector.importer.rows import (
    CsvLayout,
    FileFormat,
    FileFormatError,
    SourceRow,
    csv_layout,
    detect_format,
    read_rows,
    write_rejected,
)
from connector.importer.validation import (
    ImportOptions,
    RowError,
    ValidationReport,
    validated_parts,
)
from connector.ingest import (
    IngestResult,
    commit_with_retry,
    store_ratings,
    store_responses,
    write_outbox,
)
from connector.scorecards import recompute_scorecards
from connector.scoring import ScoringConfig
from connector.storage import Database

STORE_CHUNK = 2000
RECOMPUTE_CHUNK = 500


class InvalidRows(Exception):
    """Some rows are invalid and skipping was not asked for; nothing was stored."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(f"{len(report.rejected)} invalid row(s)")
        self.report = report


@dataclass
class ImportSummary:
    path: Path
    file_format: FileFormat
    rows: int = 0
    stored: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejected_path: Path | None = None
    contacts: int = 0
    accounts: int = 0
    seconds: float = 0.0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def default_rejected_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.rejected{path.suffix or '.csv'}")


def _check_columns(path: Path, file_format: FileFormat, options: ImportOptions) -> CsvLayout | None:
    """Columns named by --column must exist: a typo would otherwise read as empty cells."""
    if file_format != "csv":
        return None
    layout = csv_layout(path, options.encoding)
    missing = [
        f"{column!r} (for {name})"
        for name, column in options.columns.items()
        if column not in layout.header
    ]
    if missing:
        raise FileFormatError(
            f"{path}: column(s) {', '.join(missing)} not in the header: {', '.join(layout.header)}"
        )
    return layout


def import_file(
    database: Database,
    path: Path,
    options: ImportOptions,
    *,
    now: datetime,
    scoring: ScoringConfig,
    file_format: FileFormat | None = None,
    skip_invalid: bool = False,
    rejected_path: Path | None = None,
    progress: Progress | None = None,
    recompute: bool = False,
) -> ImportSummary:
    """Import ``path``; raises :class:`InvalidRows` (nothing stored) or FileFormatError.

    The touched contacts and accounts are recorded in the outbox, so the worker scores and
    pushes them (as for any ingest); ``recompute`` scores them here too, for a setup that runs
    no worker.
    """
    started = time.perf_counter()
    file_format = file_format or detect_format(path)
    layout = _check_columns(path, file_format, options)
    rows: list[SourceRow] = list(read_rows(path, file_format, options.encoding))
    summary = ImportSummary(path=path, file_format=file_format, rows=len(rows))
    store = store_ratings if options.is_rating else store_responses
    validating = progress.add_task("Validating", total=len(rows)) if progress else None
    storing = progress.add_task("Storing", total=len(rows)) if progress else None

    def advance(task: TaskID | None, count: int) -> None:
        if progress is not None and task is not None:
            progress.advance(task, count)

    report = ValidationReport()
    validated: list[ValidationReport] = []
    # One transaction: each slice is stored as soon as it is valid, while the next slices are
    # validated on the other cores; an invalid row (without skipping) rolls it all back.
    # SQLite stores in this process's CPU, which would only compete with the validating ones:
    # there every slice is validated first. A transaction that loses a race with a concurrent
    # writer (``commit_with_retry``) stores the slices validated so far again, then goes on.
    with validated_parts(rows, options) as parts, database.session() as session:
        pending = iter(list(parts) if database.is_sqlite else parts)

        def validate_rest() -> Iterator[ValidationReport]:
            for part in pending:
                validated.append(part)
                report.extend(part)
                advance(validating, part.total)
                yield part

        def store_all(_attempt_started: datetime) -> IngestResult:
            result = IngestResult()
            for part in chain(list(validated), validate_rest()):
                if report.rejected and not skip_invalid:
                    continue  # nothing will be kept; validate on, to report every bad row
                for chunk in chunked(part.valid, STORE_CHUNK):
                    result.merge(store(session, chunk, now=now, outbox=False))
                advance(storing, part.total)
            if report.rejected and not skip_invalid:
                raise InvalidRows(report)
            # every touched person and account once, however many chunks named them
            write_outbox(session, result.contact_ids, result.account_ids, now=now)
            if recompute:
                _recompute(session, result, now=now, scoring=scoring, progress=progress)
            return result

        result = commit_with_retry(session, store_all)

    summary.errors = report.errors
    summary.rejected = len(report.rejected)
    if report.rejected:
        summary.rejected_path = rejected_path or default_rejected_path(path)
        rejected = [
            (row, "; ".join(f"{e.field}: {e.message}" for e in errors))
            for row, errors in report.rejected
        ]
        write_rejected(summary.rejected_path, file_format, rejected, layout)
    summary.stored = len(report.valid)
    summary.created, summary.updated = result.created, result.updated
    summary.unchanged = result.unchanged
    summary.contacts, summary.accounts = len(result.contact_ids), len(result.account_ids)
    summary.seconds = time.perf_counter() - started
    return summary


def _recompute(
    session: Session,
    result: IngestResult,
    *,
    now: datetime,
    scoring: ScoringConfig,
    progress: Progress | None,
) -> None:
    """Score the imported contacts and accounts here (``--recompute``; else the worker does)."""
    subjects = [("contact", i) for i in sorted(result.contact_ids)] + [
        ("account", i) for i in sorted(result.account_ids)
    ]
    scoring_task = progress.add_task("Scoring", total=len(subjects)) if progress else None
    for chunk_of_subjects in chunked(subjects, RECOMPUTE_CHUNK):
        recompute_scorecards(
            session,
            [i for kind, i in chunk_of_subjects if kind == "contact"],
            [i for kind, i in chunk_of_subjects if kind == "account"],
            now=now,
            config=scoring,
        )
        if progress is not None and scoring_task is not None:
            progress.advance(scoring_task, len(chunk_of_subjects))
