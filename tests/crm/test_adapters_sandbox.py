"""Both adapters against the sandbox CRM, through the real client libraries.

One sandbox serves the module; each test starts from its seed (reset), with no faults and
zeroed request counts. Request counts are the sandbox's own (per endpoint), not ours.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from simple_salesforce import Salesforce

from connector.cli import main
from connector.crm.datafiles import PROJECT_ROOT
from connector.crm.errors import FatalCrmError, FieldConflictError, RetriableCrmError
from connector.crm.factory import adapter_from_config
from connector.crm.field_changes import field_changes, follow_up_task
from connector.crm.fieldtypes import describe_type
from connector.crm.manifest import load_manifest
from connector.crm.mapping import CrmMapping, load_mapping, parse_mapping
from connector.crm.provisioning import apply_install, check_fields, plan_install
from connector.crm.types import CrmAdapter, FollowUpTask, RecordKey, RecordUpdate
from crm_sandbox import SandboxServer
from tests.sandbox.conftest import ca_session, salesforce_token

pytestmark = pytest.mark.integration

CRMS = ("hubspot", "salesforce")
CONTACTS = {"hubspot": "contacts", "salesforce": "Contact"}
MANIFEST = load_manifest(PROJECT_ROOT / "manifest.yaml")


def _no_stored_secret(_config: Any, _name: str) -> None:
    return None


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with SandboxServer(crm="both", port=0, state_dir=tmp_path_factory.mktemp("sandbox")) as server:
        yield server


@pytest.fixture
def fresh(sandbox: SandboxServer) -> SandboxServer:
    sandbox.admin.reset()
    sandbox.admin.clear_faults()
    sandbox.admin.reset_stats()
    return sandbox


def _config(sandbox: SandboxServer, crm: str, **extra: Any) -> dict[str, Any]:
    return {**sandbox.client_settings(), "CX360_CRM": crm, **extra}


def _adapter(sandbox: SandboxServer, crm: str, **extra: Any) -> CrmAdapter:
    return adapter_from_config(_config(sandbox, crm, **extra), lookup=_no_stored_secret)


def _installed(sandbox: SandboxServer, crm: str) -> tuple[CrmAdapter, CrmMapping]:
    adapter = _adapter(sandbox, crm)
    mapping = load_mapping(crm, {}, manifest=MANIFEST)
    apply_install(adapter, plan_install(adapter, mapping))
    sandbox.admin.reset_stats()
    return adapter, mapping


def _endpoint_calls(sandbox: SandboxServer, *parts: str) -> int:
    endpoints: dict[str, int] = sandbox.admin.stats()["endpoints"]
    return sum(n for name, n in endpoints.items() if all(p in name for p in parts))


def _write_calls(sandbox: SandboxServer, crm: str) -> dict[str, int]:
    endpoints: dict[str, int] = sandbox.admin.stats()["endpoints"]
    readonly = ("query", "describe", "batch_read", "search", "oauth", "get", "list")
    return {
        name: n
        for name, n in endpoints.items()
        if name.startswith(crm) and not any(word in name for word in readonly)
    }


def _bulk_emails(sandbox: SandboxServer, crm: str, count: int) -> list[str]:
    sandbox.admin.generate_contacts(crm, count=count, accounts=10)
    return [f"bulk-{i:06d}@example.com" for i in range(count)]


def _scorecard(score: int) -> dict[str, Any]:
    category = "detractor" if score <= 6 else "passive" if score <= 8 else "promoter"
    return {
        "nps.score": score,
        "nps.category": category,
        "nps.date": "2025-03-02",
        "nps.comment": "Schneller Support, danke",
        "nps.category_changed_at": "2025-03-02T09:15:00Z",
        "nps.responses": 1,
        "rnps.score": 50.0,
        "rnps.potential_avg": 7.5,
        "cx360.segment": "at_risk" if category == "detractor" else "maintain",
        "survey.last_date": "2025-03-02",
    }


# ---------------------------------------------------------------------------- install / check
@pytest.mark.parametrize("crm", CRMS)
def test_given_an_empty_org_when_installed_twice_then_the_second_run_changes_nothing(
    fresh: SandboxServer, crm: str
) -> None:
    adapter = _adapter(fresh, crm)
    mapping = load_mapping(crm, {}, manifest=MANIFEST)

    first = apply_install(adapter, plan_install(adapter, mapping))
    fresh.admin.reset_stats()
    second = plan_install(adapter, mapping)
    apply_install(adapter, second)

    created = [c for c in first if c.action == "create_field"]
    assert len(created) == len(mapping.contact.fields) + len(mapping.account.fields)
    assert second.is_empty
    assert _write_calls(fresh, crm) == {}
    assert [f for f in check_fields(adapter, mapping) if f.is_error] == []


@pytest.mark.parametrize(
    ("crm", "field", "described_type", "picklist"),
    [
        ("salesforce", "CX_NPS_Category__c", "picklist", ["Promoter", "Passive", "Detractor"]),
        ("hubspot", "cx360_nps_category", "enumeration", ["promoter", "passive", "detractor"]),
        ("salesforce", "CX_NPS_Score__c", "double", []),
        ("hubspot", "cx360_nps_date", "date", []),
    ],
)
def test_given_an_install_when_described_then_fields_have_the_manifest_types_and_values(
    fresh: SandboxServer, crm: str, field: str, described_type: str, picklist: list[str]
) -> None:
    adapter, _ = _installed(fresh, crm)

    described = adapter.describe_fields("contact")[field]

    assert described.type == described_type
    assert list(described.options) == picklist


def test_given_salesforce_install_when_done_then_the_permission_set_grants_every_new_field(
    fresh: SandboxServer,
) -> None:
    _installed(fresh, "salesforce")

    permissions = fresh.admin.records("salesforce", "FieldPermissions")

    granted = {p["Field"] for p in permissions if p["PermissionsRead"] and p["PermissionsEdit"]}
    assert {"Contact.CX_NPS_Category__c", "Account.CX_Segment__c"} <= granted
    # the 36 mapped fields, plus the Task field that keeps follow-up task creation idempotent
    assert len(granted) == 37
    assert "Task.CX360_Follow_Up_Key__c" in granted


@pytest.mark.parametrize("crm", CRMS)
def test_given_a_field_of_an_incompatible_type_when_installing_then_it_is_named_and_kept(
    fresh: SandboxServer, crm: str
) -> None:
    adapter = _adapter(fresh, crm)
    mapping = load_mapping(crm, {}, manifest=MANIFEST)
    spec = mapping.contact.by_metric()["nps.score"].spec
    assert spec is not None
    text_spec = type(spec)(
        name=spec.name, label=spec.label, type="Text" if crm == "salesforce" else "string",
        length=80, field_type="text",
    )  # fmt: skip
    adapter.prepare("contact")
    adapter.create_field("contact", text_spec)

    plan = plan_install(adapter, mapping)

    assert [c.field for c in plan.conflicts] == [spec.name]
    with pytest.raises(FieldConflictError) as caught:
        apply_install(adapter, plan)
    assert spec.name in str(caught.value)
    # kept as it was; on Salesforce also hidden still (nothing is granted on a conflict)
    kept = adapter.describe_fields("contact").get(spec.name)
    hidden = adapter.hidden_fields("contact", [spec.name])
    assert (kept.type if kept else describe_type(crm, hidden[spec.name])) == "string"
    assert bool(hidden) == (crm == "salesforce")
    assert "create_field" not in {
        c.action
        for c in plan_install(adapter, mapping).changes
        if c.target == spec.name and c.subject == "contact"
    }


@pytest.mark.parametrize("crm", CRMS)
def test_given_drift_when_checked_then_missing_field_wrong_type_and_missing_value_are_reported(
    fresh: SandboxServer, crm: str
) -> None:
    adapter, _ = _installed(fresh, crm)
    raw = yaml.safe_load((PROJECT_ROOT / "mappings" / f"{crm}.yaml").read_text())
    german = {"promoter": "Promotor", "passive": "Indifferenter", "detractor": "Kritiker"}
    raw["contact"]["nps.category"]["values"] = german
    raw["contact"]["csat.last"] = "Not_There__c" if crm == "salesforce" else "not_there"
    raw["contact"]["nps.comment"] = "LastName" if crm == "salesforce" else "firstname"
    raw["contact"]["nps.responses"] = "Email" if crm == "salesforce" else "email"
    drifted = parse_mapping(raw, MANIFEST, f"{crm}.yaml")

    errors = [f.message for f in check_fields(adapter, drifted) if f.is_error]

    assert len(errors) == 3, errors
    assert any("Not_There__c" in e or "not_there" in e for e in errors)
    assert any("missing field" in e for e in errors)
    assert any("wrong type" in e and "nps.responses" in e for e in errors)
    assert any("missing picklist value(s) Indifferenter, Kritiker, Promotor" in e for e in errors)


@pytest.mark.parametrize("crm", CRMS)
def test_given_the_cli_when_checking_installing_and_checking_then_exit_codes_follow_drift(
    fresh: SandboxServer, crm: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in _config(fresh, crm).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    runner = CliRunner()

    before = runner.invoke(main, ["check"])
    dry = runner.invoke(main, ["install", "--dry-run"])
    after_dry = runner.invoke(main, ["check"])
    install = runner.invoke(main, ["install"])
    again = runner.invoke(main, ["install"])
    clean = runner.invoke(main, ["check"])

    assert before.exit_code == 1 and "missing field; run cx360 install" in before.output
    assert dry.exit_code == 0 and "would be made" in dry.output
    assert after_dry.exit_code == 1
    assert install.exit_code == 0, install.output
    assert "nothing to do" in again.output
    assert clean.exit_code == 0, clean.output
    assert "all checks passed" in clean.output


# ---------------------------------------------------------------------------- resolve
@pytest.mark.parametrize(
    ("crm", "endpoint", "limit"), [("hubspot", "batch_read", 10), ("salesforce", "query", 10)]
)
def test_given_1000_emails_when_resolved_then_all_match_within_the_call_budget(
    fresh: SandboxServer, crm: str, endpoint: str, limit: int
) -> None:
    emails = _bulk_emails(fresh, crm, 1000)
    adapter = _adapter(fresh, crm)
    fresh.admin.reset_stats()
    # Untidy keys as they arrive from survey tools: padded and mixed case.
    keys = [RecordKey(email=f"  {e.upper()} ") for e in emails]

    found = adapter.resolve_contacts(keys)

    assert len(found) == 1000
    assert len({ref.crm_id for ref in found.values()}) == 1000
    assert all(ref.account_crm_id for ref in found.values())
    assert _endpoint_calls(fresh, crm, endpoint) <= limit
    assert _endpoint_calls(fresh, crm) - _endpoint_calls(fresh, crm, "oauth") <= limit


@pytest.mark.parametrize("crm", CRMS)
def test_given_ids_emails_and_domains_when_resolved_then_each_key_finds_its_record(
    fresh: SandboxServer, crm: str
) -> None:
    contact = fresh.admin.records(crm, CONTACTS[crm])[0]
    crm_id = contact.get("Id") or contact["id"]
    adapter = _adapter(fresh, crm)

    contacts = adapter.resolve_contacts(
        [RecordKey(crm_id=crm_id), RecordKey(email="nobody@nowhere.example")]
    )
    accounts = adapter.resolve_accounts(
        [RecordKey(domain="https://www.acme-maschinenbau.de/"), RecordKey(domain="unknown.example")]
    )

    assert [ref.crm_id for ref in contacts.values()] == [crm_id]
    assert [key.domain for key in accounts] == ["https://www.acme-maschinenbau.de/"]


# ---------------------------------------------------------------------------- write
@pytest.mark.parametrize(
    ("crm", "endpoint", "calls"), [("hubspot", "batch_update", 10), ("salesforce", "composite", 5)]
)
def test_given_1000_scorecards_when_written_then_the_crm_gets_full_batches(
    fresh: SandboxServer, crm: str, endpoint: str, calls: int
) -> None:
    adapter, mapping = _installed(fresh, crm)
    refs = adapter.resolve_contacts(RecordKey(email=e) for e in _bulk_emails(fresh, crm, 1000))
    updates = [
        RecordUpdate(ref.crm_id, field_changes(_scorecard(i % 11), mapping.contact, None))
        for i, ref in enumerate(refs.values())
    ]
    fresh.admin.reset_stats()

    outcomes = adapter.write("contact", updates)

    assert [o.status for o in outcomes].count("written") == 1000
    assert _write_calls(fresh, crm) == {
        k: v for k, v in _write_calls(fresh, crm).items() if endpoint in k
    }
    assert _endpoint_calls(fresh, crm, endpoint) == calls
    score_field = mapping.contact.by_metric()["nps.score"].field
    written = adapter.read("contact", [updates[3].crm_id], [score_field])
    assert float(written[updates[3].crm_id][score_field]) == 3


@pytest.mark.parametrize(("crm", "bad_value"), [("hubspot", "bogus"), ("salesforce", "Bogus")])
def test_given_a_batch_with_one_invalid_record_when_written_then_only_that_one_is_rejected(
    fresh: SandboxServer, crm: str, bad_value: str
) -> None:
    adapter, mapping = _installed(fresh, crm)
    refs = list(
        adapter.resolve_contacts(RecordKey(email=e) for e in _bulk_emails(fresh, crm, 5)).values()
    )
    category = mapping.contact.by_metric()["nps.category"].field
    updates = [
        RecordUpdate(
            r.crm_id, {category: mapping.contact.by_metric()["nps.category"].values["promoter"]}
        )
        for r in refs
    ]
    updates[2] = RecordUpdate(refs[2].crm_id, {category: bad_value})

    outcomes = adapter.write("contact", updates)

    assert [o.status for o in outcomes] == ["written", "written", "rejected", "written", "written"]
    assert outcomes[2].crm_id == refs[2].crm_id
    assert outcomes[2].reason and outcomes[2].code
    values = adapter.read("contact", [r.crm_id for r in refs], [category])
    assert values[refs[2].crm_id][category] in (None, "")
    assert values[refs[0].crm_id][category] in ("promoter", "Promoter")


@pytest.mark.parametrize("crm", CRMS)
def test_given_a_deleted_record_when_written_then_it_is_rejected_and_the_rest_written(
    fresh: SandboxServer, crm: str
) -> None:
    adapter, mapping = _installed(fresh, crm)
    refs = list(
        adapter.resolve_contacts(RecordKey(email=e) for e in _bulk_emails(fresh, crm, 3)).values()
    )
    score = mapping.contact.by_metric()["nps.score"].field
    gone = "003000000000999AAA" if crm == "salesforce" else "999999"
    updates = [RecordUpdate(refs[0].crm_id, {score: 9}), RecordUpdate(gone, {score: 9})]

    outcomes = adapter.write("contact", updates)

    assert [(o.crm_id, o.status) for o in outcomes] == [
        (refs[0].crm_id, "written"),
        (gone, "rejected"),
    ]


def test_given_a_large_salesforce_write_when_above_the_threshold_then_bulk_api_2_is_used(
    fresh: SandboxServer,
) -> None:
    _installed(fresh, "salesforce")
    adapter = _adapter(fresh, "salesforce", SALESFORCE_BULK_THRESHOLD=50)
    adapter.bulk_poll_seconds = 0.05  # type: ignore[attr-defined]
    mapping = load_mapping("salesforce", {}, manifest=MANIFEST)
    refs = list(
        adapter.resolve_contacts(
            RecordKey(email=e) for e in _bulk_emails(fresh, "salesforce", 60)
        ).values()
    )
    category = mapping.contact.by_metric()["nps.category"].field
    updates = [RecordUpdate(r.crm_id, {category: "Passive"}) for r in refs]
    updates[7] = RecordUpdate(refs[7].crm_id, {category: "Bogus"})
    fresh.admin.reset_stats()

    outcomes = adapter.write("contact", updates)

    assert [o.status for o in outcomes].count("written") == 59
    assert outcomes[7].status == "rejected"
    assert _endpoint_calls(fresh, "salesforce", "composite") == 0
    assert _endpoint_calls(fresh, "salesforce", "bulk2") >= 4


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize("crm", CRMS)
def test_given_server_errors_when_writing_then_a_retriable_error_is_raised(
    fresh: SandboxServer, crm: str
) -> None:
    adapter, mapping = _installed(fresh, crm)
    ref = next(
        iter(adapter.resolve_contacts([RecordKey(email=_bulk_emails(fresh, crm, 1)[0])]).values())
    )
    fresh.admin.set_faults(crm, error_rate=1.0, error_status=503)

    with pytest.raises(RetriableCrmError) as caught:
        adapter.write("contact", [RecordUpdate(ref.crm_id, {mapping.contact.fields[0].field: 5})])

    assert caught.value.status == 503


def test_given_a_hubspot_429_when_writing_then_retriable_with_the_servers_delay(
    fresh: SandboxServer,
) -> None:
    adapter, _ = _installed(fresh, "hubspot")
    contact = fresh.admin.records("hubspot", "contacts")[0]["id"]
    update = RecordUpdate(contact, {"cx360_nps_score": 5})
    fresh.admin.set_faults("hubspot", burst_429=1)

    with pytest.raises(RetriableCrmError) as caught:
        adapter.write("contact", [update])

    assert caught.value.code == "RATE_LIMIT"
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 10
    assert adapter.write("contact", [update])[0].status == "written"


def test_given_a_salesforce_row_lock_when_writing_then_the_record_is_marked_retriable(
    fresh: SandboxServer,
) -> None:
    adapter, _ = _installed(fresh, "salesforce")
    contact = fresh.admin.records("salesforce", "Contact")[0]["Id"]
    fresh.admin.set_faults("salesforce", lock_row_burst=1)

    try:
        outcomes = adapter.write("contact", [RecordUpdate(contact, {"CX_NPS_Score__c": 5})])
    except RetriableCrmError as exc:  # the whole call refused with UNABLE_TO_LOCK_ROW
        assert exc.code == "UNABLE_TO_LOCK_ROW"
    else:
        assert [(o.status, o.code) for o in outcomes] == [("retriable", "UNABLE_TO_LOCK_ROW")]
    assert (
        adapter.write("contact", [RecordUpdate(contact, {"CX_NPS_Score__c": 5})])[0].status
        == "written"
    )


def test_given_an_expired_salesforce_session_when_calling_then_it_logs_in_once_and_continues(
    fresh: SandboxServer,
) -> None:
    adapter, _ = _installed(fresh, "salesforce")
    contact = fresh.admin.records("salesforce", "Contact")[0]["Id"]
    fresh.admin.expire_sessions("salesforce")

    outcomes = adapter.write("contact", [RecordUpdate(contact, {"CX_NPS_Score__c": 7})])

    assert outcomes[0].status == "written"
    assert _endpoint_calls(fresh, "salesforce", "oauth") == 1


def test_given_an_expired_hubspot_oauth_token_when_calling_then_it_refreshes_and_continues(
    fresh: SandboxServer,
) -> None:
    adapter = _adapter(
        fresh,
        "hubspot",
        HUBSPOT_ACCESS_TOKEN="",
        HUBSPOT_REFRESH_TOKEN="sandbox-hubspot-refresh",
        HUBSPOT_CLIENT_ID="sandbox-hubspot-client",
        HUBSPOT_CLIENT_SECRET="sandbox-hubspot-secret",
    )
    fresh.admin.expire_sessions("hubspot")

    found = adapter.resolve_contacts([RecordKey(email="ben.weber@acme-maschinenbau.de")])

    assert len(found) == 1


def test_given_an_expired_private_app_token_when_calling_then_a_fatal_auth_error_is_raised(
    fresh: SandboxServer,
) -> None:
    adapter = _adapter(fresh, "hubspot", HUBSPOT_ACCESS_TOKEN="pat-revoked")

    with pytest.raises(FatalCrmError) as caught:
        adapter.resolve_contacts([RecordKey(email="ben.weber@acme-maschinenbau.de")])

    assert caught.value.kind == "auth"
    assert "pat-revoked" not in str(caught.value)


def test_given_a_registered_certificate_when_using_the_jwt_flow_then_salesforce_logs_in(
    fresh: SandboxServer, tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cx360")])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2040, 1, 1, tzinfo=UTC)).sign(key, hashes.SHA256())
    )  # fmt: skip
    fresh.admin.register_jwt_key(certificate.public_bytes(serialization.Encoding.PEM).decode())
    key_file = tmp_path / "cx360.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    adapter = _adapter(
        fresh,
        "salesforce",
        SALESFORCE_AUTH="jwt",
        SALESFORCE_USERNAME="cx360@sandbox.example.com",
        SALESFORCE_PRIVATE_KEY_FILE=str(key_file),
        SALESFORCE_AUDIENCE=fresh.url,
    )

    assert [f.level for f in adapter.check()] == ["ok", "ok", "ok"]


# ---------------------------------------------------------------------------- follow-up tasks
@pytest.mark.parametrize(("crm", "tasks"), [("hubspot", "tasks"), ("salesforce", "Task")])
def test_given_a_contact_turning_detractor_when_pushed_twice_then_one_task_is_created(
    fresh: SandboxServer, crm: str, tasks: str
) -> None:
    adapter, mapping = _installed(fresh, crm)
    ref = adapter.resolve_contacts([RecordKey(email="ben.weber@acme-maschinenbau.de")])
    record = next(iter(ref.values()))
    before = len(fresh.admin.records(crm, tasks))
    last_written: dict[str, Any] | None = None
    created = []
    for _push in range(2):
        scorecard = _scorecard(2)
        changes = field_changes(scorecard, mapping.contact, last_written)
        task = follow_up_task(scorecard, mapping, record, last_written, today=date(2025, 3, 2))
        if changes:
            assert (
                adapter.write("contact", [RecordUpdate(record.crm_id, changes)])[0].status
                == "written"
            )
            last_written = {**(last_written or {}), **changes}
        if task:
            created.extend(adapter.create_tasks([task]))

    assert [o.status for o in created] == ["written"]
    stored = fresh.admin.records(crm, tasks)
    assert len(stored) == before + 1
    assert created[0].created_id


def test_given_hubspot_refusing_whole_task_batches_when_creating_then_halved_to_each_task(
    fresh: SandboxServer,
) -> None:
    """HubSpot may answer 400 for a whole batch without naming the input at fault (the
    sandbox answers 207 per input, so a 400 for every request stands in): the adapter halves
    the batch until each refused task is alone, and reports each one, not the batch."""
    adapter, _ = _installed(fresh, "hubspot")
    ref = adapter.resolve_contacts([RecordKey(email="ben.weber@acme-maschinenbau.de")])
    record = next(iter(ref.values()))
    tasks = [
        FollowUpTask("contact", record.crm_id, f"Call {n}", date(2025, 3, 2), key=f"halve-{n}")
        for n in range(3)
    ]
    fresh.admin.set_faults("hubspot", error_rate=1.0, error_status=400)
    before = adapter.calls.total

    outcomes = adapter.create_tasks(tasks)

    assert [o.status for o in outcomes] == ["rejected"] * 3
    assert adapter.calls.total - before == 5  # [3] -> [1] + [2] -> [1] + [1]: 2N - 1
    fresh.admin.clear_faults("hubspot")
    assert [o.status for o in adapter.create_tasks(tasks)] == ["written"] * 3


@pytest.mark.parametrize("crm", CRMS)
def test_given_an_installed_org_when_switching_to_german_values_then_install_adds_only_them(
    fresh: SandboxServer, crm: str
) -> None:
    adapter, _ = _installed(fresh, crm)
    raw = yaml.safe_load((PROJECT_ROOT / "mappings" / f"{crm}.yaml").read_text())
    german = {"promoter": "Promotor", "passive": "Indifferenter", "detractor": "Kritiker"}
    raw["contact"]["nps.category"]["values"] = german
    mapping = parse_mapping(raw, MANIFEST, f"{crm}.yaml")

    plan = plan_install(adapter, mapping)
    apply_install(adapter, plan)

    assert [(c.action, c.detail) for c in plan.changes] == [
        ("add_picklist_values", "Promotor, Indifferenter, Kritiker")
    ]
    assert plan_install(adapter, mapping).is_empty
    assert [f for f in check_fields(adapter, mapping) if f.is_error] == []
    field = mapping.contact.by_metric()["nps.category"].field
    update = RecordUpdate(
        fresh.admin.records(crm, CONTACTS[crm])[0].get("Id")
        or fresh.admin.records(crm, CONTACTS[crm])[0]["id"],
        field_changes({"nps.category": "detractor"}, mapping.contact, None),
    )
    assert update.values == {field: "Kritiker"}
    assert adapter.write("contact", [update])[0].status == "written"


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_keyed_tasks_when_created_then_found_by_key_and_archived_once_asked(
    fresh: SandboxServer, crm: str
) -> None:
    """What a push taking a claim over relies on: a created task is found by its follow-up
    key (HubSpot: a search on the key property; Salesforce: SOQL on the external id), and a
    second task is archived (HubSpot batch archive) or deleted (sObject Collections)."""
    adapter, _ = _installed(fresh, crm)
    ref = adapter.resolve_contacts([RecordKey(email="ben.weber@acme-maschinenbau.de")])
    record = next(iter(ref.values()))
    tasks = [
        FollowUpTask("contact", record.crm_id, f"Call {n}", date(2025, 3, 2), key=f"found-{n}")
        for n in range(2)
    ]
    created = adapter.create_tasks(tasks)
    ids = {t.key: o.created_id for t, o in zip(tasks, created, strict=True)}

    assert adapter.find_tasks(["found-0", "found-1", "found-none"]) == ids
    adapter.archive_tasks([str(ids["found-0"])])
    assert adapter.find_tasks(["found-0", "found-1"]) == {"found-1": ids["found-1"]}


@pytest.mark.parametrize(
    ("crm", "limit"),
    [
        # developers.hubspot.com/docs/api/usage-details: 429 when a limit is exceeded
        ("hubspot", {"faults": {"burst_429": 1}}),
        # developer.salesforce.com/docs/atlas.en-us.salesforce_app_limits_cheatsheet.meta/
        # salesforce_app_limits_cheatsheet/salesforce_app_limits_platform_api.htm:
        # over the daily API request limit, 403 REQUEST_LIMIT_EXCEEDED
        ("salesforce", {"limits": {"salesforce_daily": 0}}),
    ],
)
def test_given_the_crms_rate_limit_when_calling_then_the_calls_outcome_is_rate_limited(
    fresh: SandboxServer, crm: str, limit: dict[str, dict[str, Any]]
) -> None:
    adapter, _ = _installed(fresh, crm)
    seen: list[tuple[str, str]] = []
    adapter.calls.after_call = lambda operation, outcome: seen.append((operation, outcome))
    contact = fresh.admin.records(crm, adapter.object_name("contact"))[0]
    update = RecordUpdate(
        contact.get("id") or contact["Id"],
        {"cx360_nps_score" if crm == "hubspot" else "CX_NPS_Score__c": 5},
    )
    if "faults" in limit:
        fresh.admin.set_faults(crm, **limit["faults"])
    else:
        fresh.admin.set_limits(reset_usage=True, **limit["limits"])

    with pytest.raises(RetriableCrmError):
        adapter.write("contact", [update])

    assert seen and seen[-1][1] == "rate_limited", seen
    assert {outcome for _, outcome in seen} <= {"ok", "rate_limited"}


# ------------------------------------------------------------- field-level security
# A field created through the Tooling API is hidden from every user until a permission set
# with FieldPermissions on it is assigned to that user (Object Reference, FieldPermissions and
# PermissionSetAssignment; the sandbox's contract tests cite the pages).
def _org_admin(sandbox: SandboxServer) -> Salesforce:
    """The org as an admin in Setup changes it, beside cx360's own connection."""
    session = ca_session(sandbox.ca_path)
    return Salesforce(instance_url=sandbox.salesforce_instance_url,
                      session_id=salesforce_token(sandbox, session), session=session)  # fmt: skip


def _cx360_assignments(sandbox: SandboxServer) -> list[dict[str, Any]]:
    sets = {r["Id"] for r in sandbox.admin.records("salesforce", "PermissionSet")
            if r["Name"] == "CX360_Integration"}  # fmt: skip
    return [r for r in sandbox.admin.records("salesforce", "PermissionSetAssignment")
            if r["PermissionSetId"] in sets]  # fmt: skip


def test_given_salesforce_install_when_done_then_its_permission_set_is_assigned_to_the_user(
    fresh: SandboxServer,
) -> None:
    adapter, mapping = _installed(fresh, "salesforce")
    users = {u["Username"]: u["Id"] for u in fresh.admin.records("salesforce", "User")}

    # the connected app's run-as user, whom the token's identity URL names
    assert [a["AssigneeId"] for a in _cx360_assignments(fresh)] == [
        users["cx360@sandbox.example.com"]
    ]
    assert not any(f.is_error for f in check_fields(adapter, mapping))
    assert plan_install(adapter, mapping).is_empty  # a second install changes nothing


def test_given_the_assignment_removed_when_checked_and_installed_then_named_and_restored(
    fresh: SandboxServer,
) -> None:
    adapter, mapping = _installed(fresh, "salesforce")
    admin = _org_admin(fresh)
    for assignment in _cx360_assignments(fresh):
        admin.PermissionSetAssignment.delete(assignment["Id"])
    contact = fresh.admin.records("salesforce", "Contact")[0]["Id"]

    with pytest.raises(FatalCrmError) as refused:  # the CRM refuses the hidden field
        adapter.write("contact", [RecordUpdate(contact, {"CX_NPS_Score__c": 5})])
    findings = [f for f in check_fields(adapter, mapping) if f.is_error]
    plan = plan_install(adapter, mapping)

    assert "INVALID_FIELD" in str(refused.value)
    assert len(findings) == 36 and all("field-level security hides it" in f.message
                                       for f in findings)  # fmt: skip
    # install --dry-run agrees with check: nothing to create, the permission set to assign
    assert [c.describe("Contact") for c in plan.changes] == [
        "assign permission set CX360_Integration to the integration user"
    ]
    apply_install(adapter, plan)
    assert not any(f.is_error for f in check_fields(adapter, mapping))
    assert adapter.write("contact", [RecordUpdate(contact, {"CX_NPS_Score__c": 5})])[0].status \
        == "written"  # fmt: skip


def test_given_edit_taken_from_a_field_when_checked_and_installed_then_named_and_granted(
    fresh: SandboxServer,
) -> None:
    adapter, mapping = _installed(fresh, "salesforce")
    row = next(r for r in fresh.admin.records("salesforce", "FieldPermissions")
               if r["Field"] == "Contact.CX_NPS_Score__c")  # fmt: skip
    _org_admin(fresh).FieldPermissions.update(row["Id"], {"PermissionsEdit": False})

    findings = [f.message for f in check_fields(adapter, mapping) if f.is_error]
    plan = plan_install(adapter, mapping)

    assert findings == ["Contact.CX_NPS_Score__c (nps.score): not writable (field-level security "
                        "lets the integration user read it, not edit it: run cx360 install, or "
                        "grant Edit in Setup)"]  # fmt: skip
    assert [c.describe("Contact") for c in plan.changes] == [
        "grant read/edit on Contact.CX_NPS_Score__c"
    ]
    apply_install(adapter, plan)
    assert not any(f.is_error for f in check_fields(adapter, mapping))


def test_given_fields_of_an_earlier_install_hidden_when_installing_then_granted_not_recreated(
    fresh: SandboxServer,
) -> None:
    # an earlier install created the fields and stopped before granting them
    adapter = _adapter(fresh, "salesforce")
    mapping = load_mapping("salesforce", {}, manifest=MANIFEST)
    spec = mapping.contact.by_metric()["nps.score"].spec
    assert spec is not None
    adapter.create_field("contact", spec)

    plan = plan_install(adapter, mapping)
    apply_install(adapter, plan)

    actions = {(c.action, c.subject, c.target) for c in plan.changes}
    assert ("create_field", "contact", "CX_NPS_Score__c") not in actions
    assert ("create_field", "account", "CX_NPS_Score__c") in actions  # the account's own
    assert ("grant_access", "contact", "Contact.CX_NPS_Score__c") in actions
    assert not any(f.is_error for f in check_fields(adapter, mapping))


def test_given_a_user_who_may_not_assign_permission_sets_when_installing_then_the_steps_named(
    fresh: SandboxServer,
) -> None:
    fresh.admin.set_credentials(salesforce_assign_permission_sets=False)
    adapter = _adapter(fresh, "salesforce")
    mapping = load_mapping("salesforce", {}, manifest=MANIFEST)

    with pytest.raises(FatalCrmError) as refused:
        apply_install(adapter, plan_install(adapter, mapping))

    message = str(refused.value)
    assert "cannot assign permission set CX360_Integration to the integration user" in message
    assert "INSUFFICIENT_ACCESS_OR_READONLY" in message
    assert "Setup > Permission Sets > CX360 Integration > Manage Assignments" in message
    # the fields were made and granted; check names each as hidden until someone assigns
    findings = [f for f in check_fields(adapter, mapping) if f.is_error]
    assert findings and all("field-level security hides it" in f.message for f in findings)


def test_given_an_admin_chosen_field_hidden_from_the_user_when_checked_then_dry_run_agrees(
    fresh: SandboxServer,
) -> None:
    adapter, _ = _installed(fresh, "salesforce")
    admin = _org_admin(fresh)  # the admin's own field, made in Setup for their profile only
    admin.toolingexecute("sobjects/CustomField", method="POST", data={
        "FullName": "Contact.Loyalty_Score__c",
        "Metadata": {"label": "Loyalty score", "type": "Number", "precision": 4, "scale": 1},
    })  # fmt: skip
    raw = yaml.safe_load((PROJECT_ROOT / "mappings" / "salesforce.yaml").read_text())
    raw["contact"]["nps.score"] = "Loyalty_Score__c"
    raw["contact"]["csat.last"] = "Not_There__c"  # the admin's, and missing altogether
    chosen = parse_mapping(raw, MANIFEST, "salesforce.yaml")

    errors = [f.message for f in check_fields(adapter, chosen) if f.is_error]
    plan = plan_install(adapter, chosen)

    assert len(errors) == 2, errors
    assert any("Loyalty_Score__c" in e and "field-level security hides it" in e for e in errors)
    assert any("Not_There__c" in e and "missing field" in e for e in errors)
    # the dry run plans what fixes the first (a grant, no new field); the second is the
    # admin's to make, so install plans nothing for it, and check keeps naming it
    assert [c.describe("Contact") for c in plan.changes] == [
        "grant read/edit on Contact.Loyalty_Score__c"
    ]
    apply_install(adapter, plan)
    errors = [f.message for f in check_fields(adapter, chosen) if f.is_error]
    assert errors == [e for e in errors if "Not_There__c" in e] and len(errors) == 1
