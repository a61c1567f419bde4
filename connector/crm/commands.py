"""``cx360 install [--dry-run]`` and ``cx360 check``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from connector.config import ConfigError, load_config
from connector.crm.check import explained, unreachable_crm_url
from connector.crm.datafiles import DataFileError
from connector.crm.errors import CrmError, FatalCrmError
from connector.crm.factory import adapter_from_config, configured_crm
from connector.crm.mapping import CrmMapping, load_mapping
from connector.crm.provisioning import apply_install, check_fields, plan_install
from connector.crm.types import CheckFinding, CrmAdapter
from connector.crm.write_test import write_test

_LEVEL_STYLE = {"ok": ("ok", "green"), "warning": ("warn", "yellow"), "error": ("FAIL", "red")}


def _config() -> dict[str, Any]:
    try:
        return load_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _mapping_and_adapter(config: Mapping[str, Any]) -> tuple[CrmMapping, CrmAdapter]:
    try:
        crm = configured_crm(config)
        mapping = load_mapping(crm, config)
        return mapping, adapter_from_config(config)
    except (DataFileError, CrmError) as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("install")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing in the CRM.")
def install_command(dry_run: bool) -> None:
    """Create the custom fields the mapping uses in the configured CRM (idempotent)."""
    config = _config()
    mapping, adapter = _mapping_and_adapter(config)
    try:
        plan = plan_install(adapter, mapping)
    except CrmError as exc:
        raise click.ClickException(str(exc)) from exc
    for conflict in plan.conflicts:
        click.secho(f"conflict: {conflict}", fg="red", err=True)
    if plan.conflicts:
        raise click.ClickException(
            f"{len(plan.conflicts)} field(s) exist with an incompatible type; nothing changed"
        )
    if not plan.changes:
        click.echo(f"{adapter.crm}: nothing to do, every mapped field is in place")
        return
    verb = "would" if dry_run else "will"
    click.echo(f"{adapter.crm}: {len(plan.changes)} change(s) {verb} be made:")
    for change in plan.changes:
        click.echo(f"  - {change.describe(adapter.object_name(change.subject))}")
    if dry_run:
        return
    try:
        done = apply_install(adapter, plan)
    except CrmError as exc:
        raise click.ClickException(f"install stopped: {exc}") from exc
    click.secho(f"done: {len(done)} change(s) made ({adapter.calls.total} API calls)", fg="green")


def run_check(config: Mapping[str, Any], write_test_record: str | None = None
              ) -> list[CheckFinding]:  # fmt: skip
    """Every finding of ``cx360 check``: config, mapping, connectivity, fields; with
    ``write_test_record`` and nothing wrong so far, one write read back and restored."""
    findings: list[CheckFinding] = []
    try:
        crm = configured_crm(config)
    except FatalCrmError as exc:
        return [CheckFinding("config", "error", exc.message)]
    findings.append(CheckFinding("config", "ok", f"CX360_CRM={crm}"))
    try:
        mapping = load_mapping(crm, config)
    except DataFileError as exc:
        return [
            *findings,
            *(CheckFinding("mapping", "error", f"{exc.path}: {p}") for p in exc.problems),
        ]
    findings.append(CheckFinding("mapping", "ok", f"{mapping.path} is valid"))
    if unreachable := unreachable_crm_url(crm, config):
        return [*findings, CheckFinding("connectivity", "error", unreachable)]
    try:
        adapter = adapter_from_config(config)
    except CrmError as exc:
        area = "config" if isinstance(exc, FatalCrmError) else "connectivity"
        return [*findings, CheckFinding(area, "error", explained(crm, config, exc))]
    try:
        access = adapter.check()
    except CrmError as exc:
        return [*findings, CheckFinding("connectivity", "error", explained(crm, config, exc))]
    # "logged in" only once an authenticated call has succeeded.
    findings.append(CheckFinding("connectivity", "ok", f"logged in to {crm}"))
    findings.extend(access)
    if any(f.is_error for f in access):
        return findings
    try:
        if config.get("CX360_DATABASE_URL"):  # do the stored ids belong to this portal / org?
            from connector.sync.identity import connection_finding

            findings.append(connection_finding(str(config["CX360_DATABASE_URL"]), adapter))
        findings.extend(check_fields(adapter, mapping))
    except CrmError as exc:
        findings.append(CheckFinding("connectivity", "error", explained(crm, config, exc)))
    if write_test_record and not any(f.is_error for f in findings):
        findings.append(write_test(adapter, mapping, write_test_record))
    return findings


@click.command("check")
@click.option(
    "--write-test",
    "write_test_record",
    metavar="RECORD",
    help="Also write one mapped field on this contact (CRM id or email), read it back and "
    "restore it: run it against a test org / portal before going live.",
)
def check_command(write_test_record: str | None) -> None:
    """Check config, mapping, connectivity and the CRM's fields; non-zero exit on a problem."""
    findings = run_check(_config(), write_test_record)
    for finding in findings:
        label, colour = _LEVEL_STYLE[finding.level]
        click.echo(click.style(f"[{label:>4}]", fg=colour) + f" {finding.area}: {finding.message}")
    errors = sum(1 for f in findings if f.is_error)
    if errors:
        click.secho(f"{errors} problem(s) found", fg="red", err=True)
        raise SystemExit(1)
    click.secho("all checks passed", fg="green")
