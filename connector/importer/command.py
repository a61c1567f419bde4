"""``cx360 import FILE``: survey history or employee ratings from CSV or JSON lines."""

from __future__ import annotations

import codecs
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import OperationalError

from connector.config import load_config
from connector.importer.rows import FileFormatError
from connector.importer.run import InvalidRows, import_file
from connector.importer.validation import (
    KINDS,
    NAMED_DATE_FORMATS,
    ImportOptions,
    date_format_option,
    parse_column_options,
)
from connector.scoring import ScoringConfig
from connector.storage import Database, utcnow
from connector.storage.conflicts import describe

MAX_ERRORS_SHOWN = 50


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    help="nps or csat: the kind of rows without a kind column; rating: employee ratings.",
)
@click.option(
    "--source",
    default="import",
    show_default=True,
    help="Source of rows without a source column; (source, external_id) is the idempotency key.",
)
@click.option(
    "--column",
    "columns",
    multiple=True,
    metavar="FIELD=COLUMN",
    help="Read FIELD from COLUMN (repeatable), e.g. --column score=Rating --column email=Mail.",
)
@click.option(
    "--format", "file_format", type=click.Choice(["csv", "jsonl"]), help="Default: by suffix."
)
@click.option(
    "--timezone",
    default=None,
    help="Timezone of dates and times in the file that carry none. Default: CX360_TIMEZONE.",
)
@click.option(
    "--encoding",
    help="Text encoding of FILE, e.g. utf-8 or cp1252. Default: UTF-8 (with or without BOM), "
    "else Windows-1252 (Excel's default in Western Europe).",
)
@click.option(
    "--date-format",
    help="Format of dates and times in FILE besides ISO 8601: a strptime format such as "
    f"'%d.%m.%Y %H:%M', or one of: {', '.join(NAMED_DATE_FORMATS)}.",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the valid rows and write the invalid ones to a rejected file.",
)
@click.option(
    "--rejected",
    "rejected_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where --skip-invalid writes rejected rows. Default: NAME.rejected.<ext> beside "
    "FILE (history.csv: history.rejected.csv), written like FILE (delimiter, encoding).",
)
@click.option(
    "--recompute",
    is_flag=True,
    help="Also score the imported contacts and accounts in this command (without a worker); "
    "by default the worker scores and pushes them.",
)
def import_command(
    file: Path,
    kind: str | None,
    source: str,
    columns: tuple[str, ...],
    file_format: str | None,
    timezone: str | None,
    encoding: str | None,
    date_format: str | None,
    skip_invalid: bool,
    rejected_path: Path | None,
    recompute: bool,
) -> None:
    """Import survey responses (or, with --kind rating, employee ratings) from FILE.

    Every row is validated first; errors are listed as FILE:LINE: field: message and nothing is
    imported unless --skip-invalid. Rows are keyed on (source, external_id), so importing a
    file again changes nothing; rows without external_id are keyed by their content.
    """
    config = load_config()
    timezone = timezone or config["CX360_TIMEZONE"]
    try:
        mapping = parse_column_options(columns, kind)
        zone = ZoneInfo(timezone)
        strptime_format = date_format_option(date_format) if date_format else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    except ZoneInfoNotFoundError as exc:
        raise click.BadParameter(f"unknown timezone {timezone!r}", param_hint="--timezone") from exc
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise click.BadParameter(
                f"unknown encoding {encoding!r}", param_hint="--encoding"
            ) from exc
    options = ImportOptions(
        kind=kind,
        source=source,
        columns=mapping,
        timezone=zone,
        business_timezone=ZoneInfo(config["CX360_TIMEZONE"]),
        csat_scale=int(config["CX360_CSAT_SCALE"]),
        encoding=encoding,
        date_format=strptime_format,
    )
    database = Database(config["CX360_DATABASE_URL"])
    console = Console(stderr=True)
    columns_shown = (
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns_shown, console=console, transient=False) as progress:
            summary = import_file(
                database,
                file,
                options,
                now=utcnow(),
                scoring=ScoringConfig.from_config(config),
                file_format="csv" if file_format == "csv" else "jsonl" if file_format else None,
                skip_invalid=skip_invalid,
                rejected_path=rejected_path,
                progress=progress,
                recompute=recompute,
            )
    except InvalidRows as exc:
        errors = exc.report.errors
        for error in errors[:MAX_ERRORS_SHOWN]:
            click.echo(error.format(str(file)), err=True)
        if len(errors) > MAX_ERRORS_SHOWN:
            click.echo(f"... and {len(errors) - MAX_ERRORS_SHOWN} more errors", err=True)
        raise click.ClickException(
            f"{len(exc.report.rejected)} of {exc.report.total} rows are invalid; nothing was "
            "imported. Fix them, or use --skip-invalid to import the valid rows."
        ) from exc
    except FileFormatError as exc:
        raise click.ClickException(str(exc)) from exc
    except OperationalError as exc:
        raise click.ClickException(
            f"The database is unavailable or not set up ({describe(exc)}); "
            "run `cx360 db upgrade` and check CX360_DATABASE_URL."
        ) from exc
    finally:
        database.dispose()

    click.echo(
        f"{summary.stored} of {summary.rows} rows imported from {file} "
        f"({summary.created} new, {summary.updated} updated, {summary.unchanged} unchanged; "
        f"{summary.contacts} contacts, {summary.accounts} accounts) "
        f"in {summary.seconds:.1f} s ({summary.rows_per_second:,.0f} rows/s)."
    )
    if not recompute:
        click.echo(
            "Their scores are computed and written to the CRM by the worker (cx360 worker), "
            "or now by cx360 sync."
        )
    if summary.rejected_path is not None:
        click.echo(
            f"{summary.rejected} invalid rows skipped; written with their errors to "
            f"{summary.rejected_path}."
        )
