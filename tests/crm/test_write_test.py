"""``cx360 check --write-test RECORD`` against the sandbox through the real clients: one
mapped field written on the contact the admin names, read back and restored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connector.cli import main
from connector.crm.factory import adapter_from_config
from connector.crm.mapping import load_mapping
from connector.crm.types import RecordKey, RecordUpdate
from crm_sandbox import SandboxServer

pytestmark = pytest.mark.integration

PERSON = "ben.weber@acme-maschinenbau.de"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with SandboxServer(crm="both", port=0, state_dir=tmp_path_factory.mktemp("sandbox")) as server:
        yield server


def _settings(sandbox: SandboxServer, crm: str, tmp_path: Path) -> dict[str, str]:
    return {
        **sandbox.client_settings(),
        "CX360_CRM": crm,
        "CX360_DATABASE_URL": f"sqlite:///{tmp_path / 'cx360.db'}",
        "CX360_INSTANCE_PATH": str(tmp_path / "instance"),
    }


def _cx360(settings: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=settings, catch_exceptions=False)


def _installed(
    sandbox: SandboxServer, crm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, str], Any, str, str]:
    """Settings after ``cx360 install``, an adapter, the mapped text field and the test
    person's record id."""
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    settings = _settings(sandbox, crm, tmp_path)
    assert _cx360(settings, "install").exit_code == 0
    adapter = adapter_from_config(settings)
    field = next(f.field for f in load_mapping(crm, settings).contact.written()
                 if f.value_type == "text")  # fmt: skip
    ref = adapter.resolve_contacts([RecordKey(email=PERSON)])[RecordKey(email=PERSON)]
    return settings, adapter, field, ref.crm_id


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_contact_with_value_when_write_test_then_written_read_back_and_restored(
    sandbox: SandboxServer, crm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, adapter, field, crm_id = _installed(sandbox, crm, tmp_path, monkeypatch)
    adapter.write("contact", [RecordUpdate(crm_id, {field: "Vorher"})])
    sandbox.admin.reset_stats()

    result = _cx360(settings, "check", "--write-test", PERSON)

    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.output.splitlines() if "write-test" in x]
    assert "[  ok]" in line and field in line and "'Vorher'" in line, line
    endpoints = sandbox.admin.stats()["endpoints"]
    writes = {k: n for k, n in endpoints.items() if "update" in k or "composite" in k}
    assert sum(writes.values()) == 2, endpoints  # the test value, then the old one
    after = adapter.read("contact", [crm_id], [field])[crm_id][field]
    assert after == "Vorher"


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_empty_field_when_write_test_by_id_then_field_empty_again(
    sandbox: SandboxServer, crm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, adapter, field, crm_id = _installed(sandbox, crm, tmp_path, monkeypatch)
    adapter.write("contact", [RecordUpdate(crm_id, {field: None})])

    result = _cx360(settings, "check", "--write-test", crm_id)

    assert result.exit_code == 0, result.output
    assert adapter.read("contact", [crm_id], [field])[crm_id].get(field) in (None, "")


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_unknown_record_when_write_test_then_one_fail_line_and_exit_1(
    sandbox: SandboxServer, crm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, *_ = _installed(sandbox, crm, tmp_path, monkeypatch)

    result = _cx360(settings, "check", "--write-test", "niemand@nirgends.example")

    assert result.exit_code == 1, result.output
    failures = [x for x in result.output.splitlines() if "[FAIL]" in x]
    assert len(failures) == 1 and "niemand@nirgends.example" in failures[0], result.output
    assert "Traceback" not in result.output
