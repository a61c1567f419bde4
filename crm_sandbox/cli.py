"""``cx360 sandbox``: run the sandbox CRM in the foreground and say how to point clients at it."""

from __future__ import annotations

import gc
import signal
from pathlib import Path

import click

from crm_sandbox.control import Credentials
from crm_sandbox.server import CRM_CHOICES, DEFAULT_STATE_DIR, HubSpotLimits, SandboxServer


def _interrupt(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt


@click.command("sandbox")
@click.option(
    "--crm",
    type=click.Choice(CRM_CHOICES),
    default="both",
    show_default=True,
    help="Which CRM surfaces answer (the others 404).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8443, show_default=True, help="0 picks a free port.")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_STATE_DIR,
    show_default=True,
    help="Where the generated CA and server certificate are kept (the CA is reused).",
)
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Load records from this JSON file at start and save them there at exit.",
)
@click.option("--no-seed", is_flag=True, help="Start empty instead of with the sample data.")
@click.option(
    "--hubspot-ten-second-limit",
    type=int,
    default=None,
    help="Requests per rolling 10 s before HubSpot answers 429 (default: off).",
)
@click.option("--hubspot-daily-limit", type=int, default=None, help="Default: off.")
@click.option("--salesforce-daily-limit", type=int, default=15_000, show_default=True)
@click.option("--portal-id", type=int, default=None, help="The HubSpot portal (hub) id it answers.")
@click.option("--org-id", default=None, help="The Salesforce org id it answers.")
def sandbox_command(
    crm: str,
    host: str,
    port: int,
    state_dir: Path,
    state_file: Path | None,
    no_seed: bool,
    hubspot_ten_second_limit: int | None,
    hubspot_daily_limit: int | None,
    salesforce_daily_limit: int,
    portal_id: int | None,
    org_id: str | None,
) -> None:
    """Serve a local Salesforce and HubSpot stand-in over HTTPS."""
    identity = Credentials()
    if portal_id is not None:
        identity.hubspot_portal_id = portal_id
    if org_id:
        identity.salesforce_org_id = org_id
    server = SandboxServer(
        crm=crm,
        host=host,
        port=port,
        state_dir=state_dir,
        seed=not no_seed,
        state_file=state_file,
        hubspot_limits=HubSpotLimits(hubspot_ten_second_limit, hubspot_daily_limit),
        salesforce_daily_limit=salesforce_daily_limit,
        credentials=identity,
    )
    server.start()
    signal.signal(signal.SIGTERM, _interrupt)  # a supervisor's stop: as Ctrl+C, state saved
    try:
        _print_settings(server, crm, state_file)
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("\nstopping")
    finally:
        server.stop()
        # ending now: spare the interpreter's teardown its garbage-collection passes over
        # everything loaded (most of the time stopping took on a loaded machine)
        gc.freeze()


def _print_settings(server: SandboxServer, crm: str, state_file: Path | None) -> None:
    echo = click.echo
    echo(f"cx360 sandbox CRM ({crm}) listening on {server.url}")
    echo(f"CA certificate: {server.ca_path}")
    if state_file is not None:
        echo(f"State file: {state_file.resolve()} (saved on exit)")
    echo("")
    echo("Point cx360 at it with these settings (environment or .env):")
    for name, value in server.client_settings().items():
        echo(f"  {name}={value}")
    if crm in ("both", "salesforce"):
        echo("")
        echo(
            f"Salesforce JWT bearer: register your certificate with POST {server.url}"
            '/__sandbox__/credentials {"salesforce_jwt_public_key": "<PEM>"}; the username '
            f"is {server.controls.credentials.salesforce_username}"
        )
    echo(f"Admin API: {server.url}/__sandbox__/info, /stats, /faults, /limits, /reset")
    echo("Press Ctrl+C to stop.", nl=True)
