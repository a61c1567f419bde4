"""Importing a history file: read, validate every row, then store and recompute in one go.

Nothing is stored while any row is invalid, unless the caller asks to skip invalid rows (they
are written to a "rejected" file in the input's format, with the reason per row). Storing uses
the ingest service, so an import is idempotent on ``(source, external_id)`` like the API, and
writes the outbox rows that make the pipeline push the new scores.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.progress import Progress

from connector.importer.rows import (
    FileFormat,
    FileFormatError,
    SourceRow,
    csv_header,
    detect_format,
    read_rows,
    write_rejected,
)
from connector.importer.validation import (
    ImportOptions,
    RowError,
    ValidationReport,
    validate_rows_parallel,
)
from connector.ingest import IngestResult, chunked, store_ratings, store_responses
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


def _check_columns(path: Path, file_format: FileFormat, options: ImportOptions) -> list[str]:
    """Columns named by --column must exist: a typo would otherwise read as empty cells."""
    if file_format != "csv":
        return []
    header = csv_header(path)
    missing = [
        f"{column!r} (for {name})"
        for name, column in options.columns.items()
        if column not in {h.strip() for h in header}
    ]
    if missing:
        raise FileFormatError(
            f"{path}: column(s) {', '.join(missing)} not in the header: {', '.join(header)}"
        )
    return header


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
    header = _check_columns(path, file_format, options)
    rows: list[SourceRow] = list(read_rows(path, file_format))
    summary = ImportSummary(path=path, file_format=file_format, rows=len(rows))

    validating = progress.add_task("Validating", total=len(rows)) if progress else None

    def advance(count: int) -> None:
        if progress is not None and validating is not None:
            progress.advance(validating, count)

    report = validate_rows_parallel(rows, options, on_rows=advance if progress else None)
    summary.errors = report.errors
    summary.rejected = len(report.rejected)
    if report.rejected and not skip_invalid:
        raise InvalidRows(report)
    if report.rejected:
        summary.rejected_path = rejected_path or default_rejected_path(path)
        rejected = [
            (row, "; ".join(f"{e.field}: {e.message}" for e in errors))
            for row, errors in report.rejected
        ]
        write_rejected(summary.rejected_path, file_format, rejected, header)

    result = _store(database, report.valid, options, now=now, scoring=scoring, progress=progress,
                    recompute=recompute)  # fmt: skip
    summary.stored = len(report.valid)
    summary.created, summary.updated = result.created, result.updated
    summary.unchanged = result.unchanged
    summary.contacts, summary.accounts = len(result.contact_ids), len(result.account_ids)
    summary.seconds = time.perf_counter() - started
    return summary


def _store(
    database: Database,
    items: Sequence[dict[str, Any]],
    options: ImportOptions,
    *,
    now: datetime,
    scoring: ScoringConfig,
    progress: Progress | None,
    recompute: bool,
) -> IngestResult:
    store = store_ratings if options.is_rating else store_responses
    total = IngestResult()
    storing = progress.add_task("Storing", total=len(items)) if progress else None
    with database.session() as session:
        for chunk in chunked(items, STORE_CHUNK):
            result = store(session, chunk, now=now)
            total.merge(result)
            if progress is not None and storing is not None:
                progress.advance(storing, len(chunk))
        if not recompute:
            return total
        subjects = [("contact", i) for i in sorted(total.contact_ids)] + [
            ("account", i) for i in sorted(total.account_ids)
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
    return total
