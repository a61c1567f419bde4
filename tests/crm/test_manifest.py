"""manifest.yaml: valid, complete, in step with the configuration and the packaged copy."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector.config import SETTINGS
from connector.crm.datafiles import PACKAGED_DEFAULTS, PROJECT_ROOT, DataFileError
from connector.crm.manifest import load_manifest, parse_manifest
from connector.scoring import ACCOUNT_METRICS, CONTACT_METRICS

MANIFEST = PROJECT_ROOT / "manifest.yaml"


def _raw() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text())


def test_given_the_project_manifest_when_loaded_then_every_metric_has_a_field_per_crm() -> None:
    manifest = load_manifest(MANIFEST)

    for crm in ("salesforce", "hubspot"):
        objects = manifest.for_crm(crm).objects
        assert list(objects["contact"].by_metric()) == list(CONTACT_METRICS)
        assert list(objects["account"].by_metric()) == list(ACCOUNT_METRICS)


def test_given_the_manifest_when_compared_with_settings_then_names_and_secret_flags_agree() -> None:
    manifest = load_manifest(MANIFEST)

    declared = {key.name: key.secret for key in manifest.config}
    expected = {setting.name: setting.secret for setting in SETTINGS}
    assert declared == expected, (
        f"manifest.yaml config is out of step with connector/config.py: "
        f"missing {sorted(set(expected) - set(declared))}, "
        f"extra {sorted(set(declared) - set(expected))}, "
        f"secret flag differs for "
        f"{sorted(k for k in set(expected) & set(declared) if expected[k] != declared[k])}"
    )


@pytest.mark.parametrize(
    "relative",
    ["manifest.yaml", "mappings/salesforce.yaml", "mappings/hubspot.yaml"],
)
def test_given_a_top_level_data_file_when_compared_then_the_packaged_copy_is_identical(
    relative: str,
) -> None:
    packaged = PACKAGED_DEFAULTS / relative
    assert packaged.read_text() == (PROJECT_ROOT / relative).read_text(), (
        f"copy {relative} to {packaged.relative_to(PROJECT_ROOT)}"
    )


def test_given_the_manifest_when_loaded_then_picklists_and_scopes_are_as_documented() -> None:
    manifest = load_manifest(MANIFEST)

    sf_category = manifest.for_crm("salesforce").objects["contact"].by_name()["CX_NPS_Category__c"]
    assert [o.value for o in sf_category.options] == ["Promoter", "Passive", "Detractor"]
    hs_score = manifest.for_crm("hubspot").objects["contact"].by_name()["cx360_nps_score"]
    assert (hs_score.type, hs_score.field_type) == ("number", "number")
    assert manifest.for_crm("hubspot").property_group == ("cx360", "cx360 Customer 360")
    assert "crm.schemas.companies.write" in manifest.permissions["hubspot"]["scopes"]
    assert ("POST", "/api/v1/responses") in manifest.endpoints


def _break(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(raw)
    *parents, last = path.split(".")
    node: Any = broken
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is _DELETE:
        del node[int(last) if last.isdigit() else last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return broken


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "expected_key", "expected_text"),
    [
        (
            "crms.salesforce.objects.contact.fields.0.type",
            "Currency",
            "crms.salesforce.objects.contact.fields.0",
            "not one cx360 can create",
        ),
        (
            "crms.salesforce.objects.contact.fields.1.type",
            "Date",
            "crms.salesforce.objects.contact.fields.1",
            "cannot hold category",
        ),
        (
            "crms.hubspot.objects.account.fields.0.metric",
            "nps.nonsense",
            "crms.hubspot.objects.account.fields.0",
            "not a account metric",
        ),
        (
            "crms.salesforce.objects.account.fields.2.name",
            "CX NPS",
            "crms.salesforce.objects.account.fields.2",
            "not a valid salesforce custom field name",
        ),
        ("version", "one", "version", "String does not match"),
        ("crms.hubspot.objects.contact.fields.0.precision", 40, "fields.0.precision", "less than"),
        ("name", _DELETE, "name", "Missing data"),
    ],
)
def test_given_a_broken_manifest_when_parsed_then_the_error_names_file_and_key(
    path: str, value: Any, expected_key: str, expected_text: str
) -> None:
    broken = _break(_raw(), path, value)

    with pytest.raises(DataFileError) as caught:
        parse_manifest(broken, Path("manifest.yaml"))

    message = str(caught.value)
    assert message.startswith("manifest.yaml:")
    assert any(expected_key in p and expected_text in p for p in caught.value.problems), message
