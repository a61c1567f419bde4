"""CLI commands for running the service: ``db upgrade``, ``apikey create``, ``serve``."""

from __future__ import annotations

import functools
import gc
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from connector.config import ConfigError, load_config

if TYPE_CHECKING:
    from connector.storage import Database
    from connector.storage.migrate import SchemaState

F = TypeVar("F", bound=Callable[..., Any])


def _config() -> dict[str, Any]:
    try:
        return load_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _migrated_database(config: dict[str, Any]) -> Database:
    """The configured database, migrated first (a key command may be the first one run)."""
    from connector.storage import Database
    from connector.storage.migrate import upgrade

    upgrade(config["CX360_DATABASE_URL"])
    return Database(config["CX360_DATABASE_URL"])


@click.group("db")
def db_command() -> None:
    """Database schema."""


@db_command.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the database schema (CX360_DATABASE_URL)."""
    from sqlalchemy.engine import make_url

    from connector.storage.migrate import current_revision, upgrade

    url = _config()["CX360_DATABASE_URL"]
    upgrade(url, revision)
    shown = make_url(url).render_as_string(hide_password=True)
    click.echo(f"database {shown} at revision {current_revision(url)}")


def _schema(url: str) -> tuple[str, SchemaState]:
    """(the URL as shown, where its schema is against this release); one line on failure."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from connector.storage.migrate import schema_state

    shown = make_url(url).render_as_string(hide_password=True)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return shown, schema_state(connection)
    except SQLAlchemyError as exc:
        cause = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
        message = f"database {shown} not reachable: {type(exc).__name__}: {cause}"
        raise click.ClickException(message) from None
    finally:
        engine.dispose()


@db_command.command("current")
def db_current() -> None:
    """Print the database's schema revision and this release's newest one."""
    shown, schema = _schema(_config()["CX360_DATABASE_URL"])
    state = "up to date" if schema.up_to_date else "behind: run cx360 db upgrade"
    click.echo(f"database {shown} at revision {schema.current or 'none (empty)'}; "
               f"this release: {schema.head} ({state})")  # fmt: skip


@db_command.command("check")
def db_check() -> None:
    """Exit 0 when the schema is at this release's newest revision, 1 when it is behind
    (for deploy scripts and health checks)."""
    shown, schema = _schema(_config()["CX360_DATABASE_URL"])
    if schema.problem:
        click.echo(f"database {shown}: {schema.problem}", err=True)
        raise SystemExit(1)
    click.echo(f"database {shown} is at {schema.head}, the newest revision")


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the answer of /readyz as JSON.")
def status_command(as_json: bool) -> None:
    """Is the deployment ready? The checks of /readyz, one line each; exit 1 when not ready."""
    import json

    from connector.broker import broker_url
    from connector.readiness import check_readiness
    from connector.storage import Database, utcnow

    config = _config()
    database = Database(config["CX360_DATABASE_URL"])
    try:
        readiness = check_readiness(config, database, broker_url(config, start=False),
                                    now=utcnow())  # fmt: skip
    finally:
        database.dispose()
    if as_json:
        click.echo(json.dumps(readiness.as_json(), indent=2))
    else:
        for name, detail in readiness.checks.items():
            click.echo(f"{name:<9} {detail}")
        click.echo("ready" if readiness.ready else "not ready")
    if not readiness.ready:
        raise SystemExit(1)


@click.group("secrets")
def secrets_command() -> None:
    """CRM secrets stored encrypted in the database (instead of the environment)."""


def _secret_names() -> list[str]:
    from connector.config import SECRET_KEYS

    return sorted(n for n in SECRET_KEYS if n.startswith(("HUBSPOT_", "SALESFORCE_")))


@secrets_command.command("set")
@click.argument("name")
@click.option("--from-file", type=click.File("r"), help="Read the value from a file ('-': stdin).")
def secrets_set(name: str, from_file: Any) -> None:
    """Store the CRM secret NAME, encrypted with a key derived from CX360_SECRET_KEY.

    The value is asked for without echo (or read with --from-file); it never appears in the
    shell history or the process list. A value set in the environment still wins.
    """
    from connector.crm.secrets import store_secret

    names = _secret_names()
    if name not in names:
        raise click.ClickException(f"{name} is not a CRM secret; one of: {', '.join(names)}")
    config = _config()
    if not config.get("CX360_SECRET_KEY"):
        raise click.ClickException(
            "CX360_SECRET_KEY must be set to store secrets (it derives the encryption key; "
            "keep it: without it they cannot be read)"
        )
    if from_file is not None:
        value = from_file.read().rstrip("\r\n")
    else:
        value = click.prompt(name, hide_input=True, confirmation_prompt=True)
    if not value.strip():
        raise click.ClickException(f"{name}: the value is empty; nothing stored")
    _migrated_database(config).dispose()
    store_secret(config, name, value)
    click.echo(f"stored {name} (encrypted)" + (
        f"; note: {name} is also set in the environment, which wins" if os.environ.get(name)
        else ""))  # fmt: skip


@secrets_command.command("list")
def secrets_list() -> None:
    """Which CRM secrets are stored, and which the environment sets (never the values)."""
    from connector.crm.secrets import stored_secret_names

    names = _secret_names()
    stored = stored_secret_names(_config(), names)
    for name in names:
        found = {"environment": bool(os.environ.get(name)), "stored": name in stored}
        where = [place for place, here in found.items() if here]
        click.echo(f"{name:32} {', '.join(where) or '-'}")


@click.group("apikey")
def apikey_command() -> None:
    """API keys for the REST API."""


@apikey_command.command("create")
@click.option("--scope", type=click.Choice(["ingest", "read", "admin"]), required=True)
@click.option("--name", default="", help="What the key is for (shown in lists).")
def apikey_create(scope: str, name: str) -> None:
    """Create a key and print it once; only its hash is stored."""
    from connector.auth import create_api_key

    with _migrated_database(_config()).session() as session:
        row, key = create_api_key(session, scope, name)
        prefix = row.prefix
    click.echo(key)
    click.echo(f"(scope {scope}, id {prefix}; store it now: it cannot be shown again)", err=True)


@apikey_command.command("list")
def apikey_list() -> None:
    """List the keys: id, scope, name, created, last used, revoked (never the key)."""
    from connector.auth import list_api_keys

    with _migrated_database(_config()).session() as session:
        rows = list_api_keys(session)
        if not rows:
            click.echo("no API keys (create one: cx360 apikey create --scope ingest)")
        for row in rows:
            used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
            revoked = f"  revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else ""
            click.echo(f"{row.prefix}  {row.scope:<6}  {row.name or '-'}  created "
                       f"{row.created_at:%Y-%m-%d %H:%M}, last used {used}{revoked}")  # fmt: skip


@apikey_command.command("revoke")
@click.argument("key_id")
def apikey_revoke(key_id: str) -> None:
    """Revoke a key by its id (the part after cx360_, as `apikey list` shows it)."""
    from connector.auth import revoke_api_key

    config = _config()
    prefix = key_id.removeprefix("cx360_").split("_")[0]
    with _migrated_database(config).session() as session:
        row = revoke_api_key(session, prefix)
        if row is None:
            raise click.ClickException(f"no API key with id {prefix!r} (see cx360 apikey list)")
    seconds = config.get("CX360_API_KEY_CACHE_SECONDS", 10.0)
    click.echo(f"revoked {prefix}; running servers refuse it within {seconds:g} s")


def wait_for_db_option(command: F) -> F:
    """``--wait-for-db SECONDS``: how long a starting process waits for the database."""
    return click.option(
        "--wait-for-db", default=60.0, show_default=True, type=click.FloatRange(min=0),
        metavar="SECONDS", help="Wait this long for the database to answer before giving up.",
    )(command)  # fmt: skip


def upgrade_waiting(database_url: str, wait_seconds: float) -> None:
    """``db upgrade`` once the database answers; a clear error when it never does."""
    from connector.storage.migrate import DatabaseUnavailable, upgrade

    try:
        upgrade(database_url, wait_seconds=wait_seconds)
    except DatabaseUnavailable as exc:
        raise click.ClickException(str(exc)) from exc


def refuse_taken_port(host: str, port: int, option: str = "--port") -> None:
    """One clear line and a non-zero exit when another process already listens on the port.

    Checked before starting, so gunicorn does not retry for seconds printing a line per try.
    """
    import socket

    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn: only a listener
    try:
        probe.bind((host, port))
    except OSError as exc:
        raise click.ClickException(
            f"Port {port} on {host} is not available ({exc.strerror}): stop what uses it "
            f"or choose another with {option}."
        ) from None
    finally:
        probe.close()


def refusing_taken_port(command: click.Command) -> click.Command:
    """``command`` (one with ``--host`` and ``--port``, like ``cx360 sandbox``) made to check
    its port first with ``refuse_taken_port``: one line, not a bind traceback."""
    started = command.callback
    assert started is not None

    @functools.wraps(started)
    def checked(*args: Any, **options: Any) -> Any:
        if options["port"]:  # 0: any free port
            refuse_taken_port(options["host"], options["port"])
        return started(*args, **options)

    command.callback = checked
    return command


def exit_promptly() -> None:
    """The process is about to end (gunicorn's ``worker_exit`` and ``on_exit`` hooks, the
    sandbox): freeze what it holds, so the interpreter's teardown skips its garbage-collection
    passes over those objects. Measured on a loaded 2-core machine: 0.7 to 2.8 s per process
    before, 0.05 s frozen; it is most of what stopping took."""
    gc.freeze()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8360, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn workers")
@click.option(
    "--migrate/--no-migrate",
    default=True,
    show_default=True,
    help="Run `db upgrade` first (turn off when several servers start at once).",
)
@wait_for_db_option
def serve_command(host: str, port: int, workers: int, migrate: bool, wait_for_db: float) -> None:
    """Run the web app and API under gunicorn."""
    import tempfile
    from pathlib import Path

    from gunicorn.app.base import BaseApplication

    from connector.app import create_app
    from connector.logs import ACCESS_LOG_FORMAT, GunicornLogger, configure_logging, log_format_of
    from connector.metrics import MULTIPROC_DIR_VARIABLE, forget_process, prepare_multiprocess_dir

    refuse_taken_port(host, port)
    config = _config()
    configure_logging(log_format_of(config))  # the migration's lines too
    if migrate:
        upgrade_waiting(config["CX360_DATABASE_URL"], wait_for_db)
    metrics_dir = os.environ.get(MULTIPROC_DIR_VARIABLE) or tempfile.mkdtemp(
        prefix="cx360-metrics-"
    )
    prepare_multiprocess_dir(Path(metrics_dir))  # /metrics adds up all workers' values

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", "-")
            self.cfg.set("access_log_format", ACCESS_LOG_FORMAT)
            self.cfg.set("logger_class", GunicornLogger)  # CX360_LOG_FORMAT, request ids
            if "control_socket_disable" in self.cfg.settings:  # gunicorn 25 and later
                # its control server takes up to 4 s to stop, and its socket path is per user
                self.cfg.set("control_socket_disable", True)
            self.cfg.set("worker_exit", lambda _server, _worker: exit_promptly())
            self.cfg.set("child_exit", lambda _server, worker: forget_process(worker.pid))
            self.cfg.set("on_exit", lambda _server: exit_promptly())

        def load(self) -> Any:
            return create_app()

    logging.getLogger("cx360").info("cx360 API on http://%s:%s/api/docs", host, port)
    Server().run()


@click.command("demo")
@click.option(
    "--crm",
    type=click.Choice(["hubspot", "salesforce"]),
    default="hubspot",
    show_default=True,
    help="Which of the sandbox's CRMs cx360 writes to.",
)
@click.option("--once", is_flag=True, help="Exit (status 0) after printing the scores.")
@click.option("--port", default=8360, show_default=True, type=int, help="Web app port.")
@click.option(
    "--sandbox-port",
    default=8443,
    show_default=True,
    type=int,
    help="Sandbox CRM port (0: any free port).",
)
def demo_command(crm: str, once: bool, port: int, sandbox_port: int) -> None:
    """Everything on embedded defaults: sandbox CRM, web app, a worker, the sample data."""
    from connector.demo import run_demo

    refuse_taken_port("127.0.0.1", sandbox_port, option="--sandbox-port")
    refuse_taken_port("127.0.0.1", port)
    raise SystemExit(run_demo(_config(), crm=crm, once=once, port=port, sandbox_port=sandbox_port))
