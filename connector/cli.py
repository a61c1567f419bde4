"""The ``cx360`` command line: one click group, commands registered from their areas."""

from __future__ import annotations

import click

from connector import __version__
from connector.cli_admin import (
    apikey_command,
    db_command,
    demo_command,
    refusing_taken_port,
    secrets_command,
    serve_command,
    status_command,
)
from connector.cli_sync import beat_command, revenue_command, sync_command, worker_command
from connector.config import ConfigError
from connector.crm.commands import check_command, install_command
from connector.importer.command import import_command
from crm_sandbox.cli import sandbox_command


class _ConfigErrorsAsMessages(click.Group):
    """A configuration mistake in any command ends as one ``Error:`` line, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_ConfigErrorsAsMessages, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cx360")
def main() -> None:
    """cx360: NPS, CSAT and employee ratings scored and written into your CRM."""


main.add_command(db_command)
main.add_command(apikey_command)
main.add_command(secrets_command)
main.add_command(serve_command)
main.add_command(status_command)
main.add_command(demo_command)
main.add_command(import_command)
main.add_command(install_command)
main.add_command(check_command)
main.add_command(refusing_taken_port(sandbox_command))
main.add_command(worker_command)
main.add_command(beat_command)
main.add_command(sync_command)
main.add_command(revenue_command)


if __name__ == "__main__":
    main()
