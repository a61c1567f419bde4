"""Scorecard -> CRM field changes: translation, diffing and write safety; follow-up tasks."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from connector.crm.datafiles import PROJECT_ROOT
from connector.crm.field_changes import field_changes, follow_up_task, scorecard_field_values
from connector.crm.manifest import load_manifest
from connector.crm.mapping import CrmMapping, load_mapping
from connector.crm.types import CrmRecordRef

MANIFEST = load_manifest(PROJECT_ROOT / "manifest.yaml")
SF = load_mapping("salesforce", {}, manifest=MANIFEST)
HS = load_mapping("hubspot", {}, manifest=MANIFEST)

SCORECARD: dict[str, Any] = {
    "nps.score": 3,
    "nps.category": "detractor",
    "nps.date": "2025-03-02",
    "nps.comment": "Slow support",
    "nps.previous_category": "passive",
    "nps.category_changed_at": "2025-03-02T09:15:00Z",
    "nps.responses": 2,
    "csat.last": None,
    "csat.date": None,
    "csat.pct": None,
    "csat.responses": 0,
    "rnps.score": 100.0,
    "rnps.category": "promoter",
    "rnps.relationship_avg": 9.5,
    "rnps.potential_avg": 8.0,
    "rnps.raters": 2,
    "rnps.date": "2025-02-01",
    "cx360.segment": "at_risk",
    "survey.last_date": "2025-03-02",
}


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        (
            SF,
            {
                "CX_NPS_Score__c": 3,
                "CX_NPS_Category__c": "Detractor",
                "CX_NPS_Previous_Category__c": "Passive",
                "CX_Segment__c": "At_Risk",
                "CX_RNPS_Category__c": "Promoter",
                "CX_NPS_Category_Changed_At__c": "2025-03-02T09:15:00Z",
            },
        ),
        (
            HS,
            {
                "cx360_nps_score": 3,
                "cx360_nps_category": "detractor",
                "cx360_segment": "at_risk",
                "cx360_rnps_relationship_avg": 9.5,
            },
        ),
    ],
)
def test_given_a_scorecard_when_converted_then_picklists_get_api_values_and_nulls_are_left_out(
    mapping: CrmMapping, expected: dict[str, Any]
) -> None:
    values = scorecard_field_values(SCORECARD, mapping.contact)

    assert expected.items() <= values.items()
    assert None not in values.values()
    csat_fields = {f.field for f in mapping.contact.fields if f.metric.startswith("csat.")}
    assert set(values) & csat_fields == {mapping.contact.by_metric()["csat.responses"].field}


def test_given_nothing_written_yet_when_diffed_then_every_value_is_a_change() -> None:
    changes = field_changes(SCORECARD, SF.contact, None)

    assert changes == scorecard_field_values(SCORECARD, SF.contact)


def test_given_the_same_values_written_when_diffed_then_there_are_no_changes() -> None:
    written = scorecard_field_values(SCORECARD, SF.contact)
    # As read back: numbers may come back as floats or strings (HubSpot).
    written["CX_NPS_Score__c"] = 3.0
    written["CX_RNPS_Score__c"] = "100.0"

    assert field_changes(SCORECARD, SF.contact, written) == {}


def test_given_one_changed_metric_when_diffed_then_only_that_field_is_sent() -> None:
    written = scorecard_field_values(SCORECARD, HS.contact)
    newer = {**SCORECARD, "rnps.raters": 3}

    assert field_changes(newer, HS.contact, written) == {"cx360_rnps_raters": 3}


@pytest.mark.parametrize(
    ("mapping", "comment_field", "pct_field"),
    [
        (SF.contact, "CX_NPS_Comment__c", "CX_CSAT_Pct__c"),
        (HS.contact, "cx360_nps_comment", "cx360_csat_pct"),
    ],
)
def test_given_a_metric_that_became_null_when_diffed_then_its_field_is_cleared(
    mapping: Any, comment_field: str, pct_field: str
) -> None:
    # DESIGN.md "Field ownership": the CRM shows the current scorecard; a newer answer without a
    # comment clears the comment, a CSAT % that aged out of the window is cleared.
    with_csat = {**SCORECARD, "csat.last": 5, "csat.date": "2025-03-01", "csat.pct": 100.0}
    written = scorecard_field_values(with_csat, mapping)
    newer = {**with_csat, "nps.comment": None, "csat.pct": None}

    assert field_changes(newer, mapping, written) == {comment_field: None, pct_field: None}


def test_given_a_field_already_empty_when_its_metric_is_null_then_nothing_is_sent() -> None:
    without = {**SCORECARD, "nps.comment": None}
    cleared = {**scorecard_field_values(SCORECARD, SF.contact), "CX_NPS_Comment__c": None}
    never_written = scorecard_field_values(without, SF.contact)

    assert field_changes(without, SF.contact, cleared) == {}
    assert field_changes(without, SF.contact, never_written) == {}
    assert "CX_NPS_Comment__c" not in field_changes(without, SF.contact, None)


def test_given_full_rewrite_when_diffed_then_every_empty_metric_clears_its_field() -> None:
    # cx360 sync --full repairs drift: the CRM may hold a value cx360 has no record of writing
    # (set by hand, or written before the database was restored), so every null metric clears.
    without = {**SCORECARD, "nps.comment": None}
    empty = {f.field for f in SF.contact.written() if without.get(f.metric) is None}

    changes = field_changes(without, SF.contact, None, clear_all_empty=True)

    assert "CX_NPS_Comment__c" in empty
    assert {name for name, value in changes.items() if value is None} == empty
    assert changes == {**scorecard_field_values(without, SF.contact), **dict.fromkeys(empty)}


def test_given_an_older_scorecard_than_the_one_written_when_diffed_then_nothing_is_sent() -> None:
    written = scorecard_field_values(SCORECARD, SF.contact)
    older = {**SCORECARD, "nps.score": 9, "nps.category": "promoter"}

    changes = field_changes(
        older,
        SF.contact,
        written,
        as_of=datetime(2025, 3, 1, tzinfo=UTC),
        last_written_as_of=datetime(2025, 3, 2, tzinfo=UTC),
    )

    assert changes == {}


def test_given_an_older_family_date_than_the_crm_when_diffed_then_that_family_is_skipped() -> None:
    written = scorecard_field_values(SCORECARD, SF.contact)
    stale_nps = {
        **SCORECARD,
        "nps.score": 10,
        "nps.category": "promoter",
        "nps.date": "2025-01-15",
        "rnps.raters": 5,
    }

    changes = field_changes(stale_nps, SF.contact, written)

    assert changes == {"CX_RNPS_Raters__c": 5}


def test_given_a_metric_outside_the_mapping_when_converted_then_it_is_never_written() -> None:
    values = scorecard_field_values({"nps.score": 12.5, "unknown.metric": 1}, SF.account)

    assert values == {"CX_NPS_Score__c": 12.5}


def test_given_a_long_comment_when_converted_then_it_is_cut_to_the_field_length() -> None:
    values = scorecard_field_values({"nps.comment": "x" * 40000}, SF.contact)

    assert len(values["CX_NPS_Comment__c"]) == 32768


REF = CrmRecordRef("003000000000001AAA", "001000000000001AAA", "005000000000001AAA")


@pytest.mark.parametrize(
    ("category", "last_written", "expected"),
    [
        ("detractor", None, True),
        ("detractor", {"CX_NPS_Category__c": "Passive"}, True),
        ("detractor", {"CX_NPS_Category__c": "Detractor"}, False),
        ("passive", {"CX_NPS_Category__c": "Detractor"}, False),
        ("promoter", None, False),
    ],
)
def test_given_a_category_change_when_planning_then_a_task_is_due_only_on_a_change_to_detractor(
    category: str, last_written: dict[str, Any] | None, expected: bool
) -> None:
    task = follow_up_task(
        {**SCORECARD, "nps.category": category},
        SF,
        REF,
        last_written,
        today=date(2025, 3, 2),
        email="ben@example.com",
    )

    assert (task is not None) is expected


def test_given_a_new_detractor_when_planning_then_the_task_follows_the_rule() -> None:
    task = follow_up_task(SCORECARD, SF, REF, None, today=date(2025, 3, 2), email="ben@example.com")

    assert task is not None
    assert task.record_id == REF.crm_id
    assert task.owner_id == REF.owner_id
    assert task.due == date(2025, 3, 5)
    assert task.title == "NPS detractor: follow up with ben@example.com (score 3)"
    assert "Slow support" in task.body and "passive" in task.body
    assert task.priority == "High"
