"""Mappings: the shipped ones are valid; errors name the file and the key; translations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from connector.crm.datafiles import PROJECT_ROOT, DataFileError
from connector.crm.manifest import load_manifest
from connector.crm.mapping import load_mapping, parse_mapping
from connector.scoring import ACCOUNT_METRICS, CONTACT_METRICS

MANIFEST = load_manifest(PROJECT_ROOT / "manifest.yaml")


def _raw(crm: str) -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "mappings" / f"{crm}.yaml").read_text())


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_given_a_shipped_mapping_when_loaded_then_every_metric_maps_to_the_manifest_field(
    crm: str,
) -> None:
    mapping = load_mapping(crm, {}, manifest=MANIFEST)

    objects = MANIFEST.for_crm(crm).objects
    for subject, metrics in (("contact", CONTACT_METRICS), ("account", ACCOUNT_METRICS)):
        fields = mapping.for_subject(subject).by_metric()  # type: ignore[arg-type]
        assert list(fields) == list(metrics)
        for metric, field_mapping in fields.items():
            assert field_mapping.field == objects[subject].by_metric()[metric].name  # type: ignore[index]
            assert field_mapping.write
    assert mapping.follow_up.enabled


@pytest.mark.parametrize(
    ("crm", "values"),
    [
        (
            "salesforce",
            {"promoter": "Promotor", "passive": "Indifferenter", "detractor": "Kritiker"},
        ),
        ("hubspot", {"promoter": "Promotor", "passive": "Indifferenter", "detractor": "Kritiker"}),
    ],
)
def test_given_german_category_values_when_loaded_then_values_and_install_spec_use_them(
    crm: str, values: dict[str, str], tmp_path: Path
) -> None:
    raw = _raw(crm)
    field = raw["contact"]["nps.category"]["field"]
    raw["contact"]["nps.category"] = {"field": field, "values": values}
    file = tmp_path / f"{crm}.yaml"
    file.write_text(yaml.safe_dump(raw, allow_unicode=True))

    mapping = load_mapping(crm, {"CX360_MAPPINGS_DIR": str(tmp_path)}, manifest=MANIFEST)

    category = mapping.contact.by_metric()["nps.category"]
    assert category.crm_value("detractor") == "Kritiker"
    spec = category.field_spec()
    assert spec is not None
    assert [o.value for o in spec.options] == ["Promotor", "Indifferenter", "Kritiker"]


def test_given_the_shipped_mappings_when_read_then_a_commented_german_example_is_there() -> None:
    for crm in ("salesforce", "hubspot"):
        text = (PROJECT_ROOT / "mappings" / f"{crm}.yaml").read_text()
        assert "# values: {promoter: Promotor, passive: Indifferenter, detractor: Kritiker}" in text


def test_given_an_existing_admin_field_when_loaded_then_it_is_mapped_but_never_created() -> None:
    raw = _raw("salesforce")
    raw["contact"]["nps.score"] = "Existing_NPS__c"

    mapping = parse_mapping(raw, MANIFEST, "salesforce.yaml")

    field_mapping = mapping.contact.by_metric()["nps.score"]
    assert (field_mapping.field, field_mapping.spec) == ("Existing_NPS__c", None)


def test_given_a_read_only_entry_when_loaded_then_it_is_mapped_but_not_written() -> None:
    raw = _raw("hubspot")
    raw["account"]["nps.moe"] = {"field": "cx360_nps_moe", "write": False}
    raw["account"]["nps.promoters"] = None

    mapping = parse_mapping(raw, MANIFEST, "hubspot.yaml")

    assert "nps.moe" in mapping.account.by_metric()
    assert "nps.moe" not in {f.metric for f in mapping.account.written()}
    assert "nps.promoters" not in mapping.account.by_metric()


def _edit(raw: dict[str, Any], section: str, key: str, value: Any) -> dict[str, Any]:
    raw[section][key] = value
    return raw


@pytest.mark.parametrize(
    ("crm", "section", "key", "value", "expected_key", "expected_text"),
    [
        (
            "salesforce",
            "contact",
            "nps.scor",
            "CX_NPS_Score__c",
            "contact.nps.scor",
            "not a contact metric",
        ),
        (
            "hubspot",
            "account",
            "nps.date",
            "cx360_nps_date",
            "account.nps.date",
            "not a account metric",
        ),
        (
            "salesforce",
            "contact",
            "nps.category",
            {"field": "CX_NPS_Category__c", "values": {"promoter": "P", "passive": "I"}},
            "contact.nps.category",
            "no translation for detractor",
        ),
        (
            "hubspot",
            "contact",
            "nps.category",
            {"field": "cx360_nps_category", "values": {"fan": "x"}},
            "contact.nps.category",
            "unknown category value(s) fan",
        ),
        (
            "salesforce",
            "contact",
            "nps.score",
            "CX_NPS_Date__c",
            "contact.nps.score",
            "manifest's field for nps.date",
        ),
        (
            "hubspot",
            "contact",
            "nps.score",
            {"field": "cx360_nps_score", "values": {"promoter": "x"}},
            "contact.nps.score",
            "only category, segment and revenue status",
        ),
        (
            "salesforce",
            "contact",
            "csat.last",
            {"field": "CX_CSAT_Last__c", "colour": "red"},
            "contact.csat.last.colour",
            "Unknown field",
        ),
        (
            "salesforce",
            "contact",
            "nps.comment",
            "CX_NPS_Score__c",
            "contact.nps.comment",
            "already mapped",
        ),
        ("hubspot", "follow_up_task", "subject", "Call {nmae}", "follow_up_task.subject", "nmae"),
        ("hubspot", "follow_up_task", "due_in_days", -1, "follow_up_task.due_in_days", "greater"),
        ("hubspot", "follow_up_task", "priority", "Urgent", "follow_up_task.priority", "HIGH"),
    ],
)
def test_given_a_broken_mapping_when_parsed_then_the_error_names_file_and_key(
    crm: str,
    section: str,
    key: str,
    value: Any,
    expected_key: str,
    expected_text: str,
) -> None:
    raw = _edit(_raw(crm), section, key, value)

    with pytest.raises(DataFileError) as caught:
        parse_mapping(raw, MANIFEST, f"mappings/{crm}.yaml")

    assert str(caught.value).startswith(f"{crm}.yaml:")
    assert any(p.startswith(expected_key) and expected_text in p for p in caught.value.problems), (
        caught.value.problems
    )


def test_given_follow_up_enabled_without_category_when_parsed_then_it_is_an_error() -> None:
    raw = _raw("salesforce")
    del raw["contact"]["nps.category"]

    with pytest.raises(DataFileError) as caught:
        parse_mapping(raw, MANIFEST, "salesforce.yaml")

    assert any(p.startswith("follow_up_task.enabled") for p in caught.value.problems)


def test_given_a_mapping_file_for_the_other_crm_when_loaded_then_the_error_names_crm(
    tmp_path: Path,
) -> None:
    (tmp_path / "salesforce.yaml").write_text(yaml.safe_dump(_raw("hubspot")))

    with pytest.raises(DataFileError) as caught:
        load_mapping("salesforce", {"CX360_MAPPINGS_DIR": str(tmp_path)}, manifest=MANIFEST)

    assert caught.value.problems == ["crm: is 'hubspot', expected 'salesforce'"]


def test_given_invalid_yaml_when_loaded_then_the_error_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "hubspot.yaml").write_text("crm: hubspot\ncontact: [\n")

    with pytest.raises(DataFileError) as caught:
        load_mapping("hubspot", {"CX360_MAPPINGS_DIR": str(tmp_path)}, manifest=MANIFEST)

    assert str(caught.value).startswith("hubspot.yaml:")
    assert "line" in caught.value.problems[0]
