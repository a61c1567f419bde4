"""The admin API (counts, reset, records, synthetic data, persistence) and ``cx360 sandbox``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInput
from simple_salesforce import Salesforce

from crm_sandbox import SandboxAdmin, SandboxServer
from tests.sandbox.conftest import ca_session
from tests.sandbox.test_salesforce_contract import grant_fields

BEN = "ben.weber@acme-maschinenbau.de"


def test_given_calls_when_stats_read_then_counted_per_endpoint_key(
    sandbox: SandboxServer, hs: HubSpot, sf: Salesforce
) -> None:
    ben = hs.crm.contacts.basic_api.get_by_id(BEN, id_property="email")
    hs.crm.contacts.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[{"id": ben.id, "properties": {"firstname": "B"}}]
        )
    )
    cid = sf.query(f"SELECT Id FROM Contact WHERE Email = '{BEN}'")["records"][0]["Id"]
    sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Contact"}, "id": cid, "Title": "X"}]},
    )
    stats = sandbox.admin.stats()
    assert stats["endpoints"]["hubspot.contacts.get"] == 1
    assert stats["endpoints"]["hubspot.contacts.batch_update"] == 1
    assert stats["endpoints"]["salesforce.composite_sobjects.patch"] == 1
    assert stats["endpoints"]["salesforce.query"] == 1
    assert stats["hubspot"]["total"] == 2 and stats["hubspot"]["by_status"] == {"200": 2}
    assert stats["total"] == sum(stats["endpoints"].values())
    assert stats["handling_ms"]["hubspot.contacts.batch_update"] > 0


def test_given_changes_when_reset_then_seed_data_back_and_counts_zero(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    seeded = len(sandbox.admin.records("salesforce", "Contact"))
    sf.Contact.create({"LastName": "Temp"})
    sandbox.admin.reset()
    assert len(sandbox.admin.records("salesforce", "Contact")) == seeded == 36
    assert sandbox.admin.stats()["total"] == 0


def test_given_seed_when_records_read_then_sample_accounts_and_associations_present(
    sandbox: SandboxServer,
) -> None:
    companies = sandbox.admin.records("hubspot", "companies")
    contacts = sandbox.admin.records("hubspot", "contacts")
    accounts = sandbox.admin.records("salesforce", "Account")
    assert {c["properties"]["domain"] for c in companies} >= {"acme-maschinenbau.de", "tidepool.io"}
    assert {a["Website"] for a in accounts} == {c["properties"]["domain"] for c in companies}
    assert all(c["associations"].get("companies") for c in contacts)
    emails = {c["properties"]["email"] for c in contacts}
    assert "petra.unbekannt@gmx.de" not in emails  # in_crm=no rows are not seeded


def test_given_generate_call_when_many_contacts_requested_then_created_on_both_crms(
    sandbox: SandboxServer,
) -> None:
    reply = sandbox.admin.generate_contacts("both", count=2000, accounts=5)
    assert reply["created"]["salesforce"]["first_email"] == "bulk-000000@example.com"
    assert reply["created"]["hubspot"]["last_email"] == "bulk-001999@example.com"
    assert len(sandbox.admin.records("salesforce", "Contact")) == 36 + 2000
    again = sandbox.admin.generate_contacts("hubspot", count=1, accounts=1)
    assert again["created"]["hubspot"]["first_email"] == "bulk-002000@example.com"


def test_given_state_file_when_restarted_then_records_and_fields_survive(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    state_file = tmp_path / "sandbox.json"
    with SandboxServer(state_dir=sandbox_server.state_dir, state_file=state_file) as first:
        session = ca_session(first.ca_path)
        token = session.post(
            first.salesforce_token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": "sandbox-client",
                "client_secret": "sandbox-secret",
            },
        ).json()["access_token"]
        sf = Salesforce(instance_url=first.url, session_id=token, session=session)
        sf.toolingexecute(
            "sobjects/CustomField",
            method="POST",
            data={
                "FullName": "Contact.CX_Flag__c",
                "Metadata": {"label": "Flag", "type": "Checkbox"},
            },
        )
        grant_fields(sf, ["Contact.CX_Flag__c"])  # field-level security: see the contract
        created = sf.Contact.create({"LastName": "Kept", "CX_Flag__c": True})
        assert first.admin.save() == str(state_file)
    with SandboxServer(state_dir=sandbox_server.state_dir, state_file=state_file) as second:
        stored = {r["Id"]: r for r in second.admin.records("salesforce", "Contact")}
        assert stored[created["id"]]["CX_Flag__c"] is True
        ids = second.state.salesforce.ids.new("Contact")
        assert ids not in stored


def test_given_admin_client_when_bad_fault_setting_then_error_raised(
    sandbox: SandboxServer,
) -> None:
    from crm_sandbox import SandboxAdminError

    with pytest.raises(SandboxAdminError, match="unknown fault"):
        sandbox.admin.set_faults("hubspot", explode=True)
    with pytest.raises(SandboxAdminError, match="error_rate"):
        sandbox.admin.set_faults("hubspot", error_rate=2)


@pytest.mark.integration
def test_given_new_user_when_cx360_sandbox_started_then_prints_url_ca_and_settings_and_answers(
    tmp_path: Path,
) -> None:
    command = [
        sys.executable,
        "-m",
        "connector.cli",
        "sandbox",
        "--port",
        "0",
        "--state-dir",
        str(tmp_path / "state"),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if "Ctrl+C" in line:
                break
        output = "\n".join(lines)
        settings = dict(
            line.strip().split("=", 1) for line in lines if line.startswith("  ") and "=" in line
        )
        assert "listening on https://127.0.0.1:" in output
        for name in (
            "CX360_CRM_CA_BUNDLE",
            "HUBSPOT_BASE_URL",
            "HUBSPOT_ACCESS_TOKEN",
            "SALESFORCE_INSTANCE_URL",
            "SALESFORCE_TOKEN_URL",
        ):
            assert settings.get(name), output
        assert Path(settings["CX360_CRM_CA_BUNDLE"]).is_file()
        assert f"CA certificate: {settings['CX360_CRM_CA_BUNDLE']}" in output
        admin = SandboxAdmin(settings["HUBSPOT_BASE_URL"], settings["CX360_CRM_CA_BUNDLE"])
        assert admin.info()["url"] == settings["SALESFORCE_INSTANCE_URL"]
        client = HubSpot(
            access_token=settings["HUBSPOT_ACCESS_TOKEN"],
            host=settings["HUBSPOT_BASE_URL"],
            ssl_ca_cert=settings["CX360_CRM_CA_BUNDLE"],
        )
        ben = client.crm.contacts.basic_api.get_by_id(BEN, id_property="email")
        assert ben.properties["email"] == BEN
        admin.close()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, "\n".join(lines)
