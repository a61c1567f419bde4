"""The metric vocabulary: keys exactly as DESIGN.md lists them, specs consistent with values."""

from __future__ import annotations

import pytest

from connector.scoring import (
    ACCOUNT_METRICS,
    CATEGORIES,
    CONTACT_METRICS,
    METRIC_SPECS,
    METRIC_TYPES,
    SEGMENTS,
)

# Copied from DESIGN.md "Metric keys", in its order.
DESIGN_CONTACT_KEYS = [
    "nps.score",
    "nps.category",
    "nps.date",
    "nps.comment",
    "nps.previous_category",
    "nps.category_changed_at",
    "nps.responses",
    "csat.last",
    "csat.date",
    "csat.pct",
    "csat.responses",
    "rnps.score",
    "rnps.category",
    "rnps.relationship_avg",
    "rnps.potential_avg",
    "rnps.raters",
    "rnps.date",
    "cx360.segment",
    "survey.last_date",
]
DESIGN_ACCOUNT_KEYS = [
    "nps.score",
    "nps.moe",
    "nps.responses",
    "nps.promoters",
    "nps.passives",
    "nps.detractors",
    "csat.pct",
    "csat.responses",
    "rnps.score",
    "rnps.category",
    "rnps.relationship_avg",
    "rnps.potential_avg",
    "rnps.raters",
    "cx360.segment",
    # Issue #22 adds the revenue of the window to the account vocabulary.
    "revenue.amount",
    "revenue.currency",
    "revenue.status",
]


def test_given_design_vocabulary_when_listing_metrics_then_keys_match_in_order() -> None:
    assert list(CONTACT_METRICS) == DESIGN_CONTACT_KEYS
    assert list(ACCOUNT_METRICS) == DESIGN_ACCOUNT_KEYS
    assert list(METRIC_SPECS["contact"]) == DESIGN_CONTACT_KEYS
    assert list(METRIC_SPECS["account"]) == DESIGN_ACCOUNT_KEYS


@pytest.mark.parametrize("subject", ["contact", "account"])
def test_given_specs_when_checking_each_then_type_values_and_range_are_consistent(
    subject: str,
) -> None:
    for key, spec in METRIC_SPECS[subject].items():
        assert spec.key == key
        assert spec.type in METRIC_TYPES
        assert spec.label and spec.description
        if spec.type == "category":
            assert spec.values == CATEGORIES
        elif spec.type == "segment":
            assert spec.values == SEGMENTS
        elif spec.type == "revenue_status":
            assert spec.values == ("at_risk", "safe", "no_signal")
        else:
            assert spec.values == ()
        if spec.type in ("integer", "decimal"):
            assert spec.minimum is not None
            assert spec.decimals == (0 if spec.type == "integer" else 1)
        elif spec.type == "amount":
            assert spec.decimals == 2 and spec.minimum is None and spec.maximum is None
        else:
            assert spec.minimum is None and spec.maximum is None


@pytest.mark.parametrize(
    ("subject", "key", "type_", "minimum", "maximum"),
    [
        ("contact", "nps.score", "integer", 0, 10),
        ("account", "nps.score", "decimal", -100, 100),
        ("contact", "rnps.score", "decimal", -100, 100),
        ("contact", "csat.pct", "decimal", 0, 100),
        ("contact", "rnps.potential_avg", "decimal", 0, 10),
        ("account", "nps.responses", "integer", 0, None),
        ("contact", "nps.category_changed_at", "datetime", None, None),
        ("contact", "nps.comment", "text", None, None),
        ("contact", "survey.last_date", "date", None, None),
        ("account", "cx360.segment", "segment", None, None),
    ],
)
def test_given_metric_when_looking_up_spec_then_type_and_range_as_designed(
    subject: str, key: str, type_: str, minimum: float | None, maximum: float | None
) -> None:
    spec = METRIC_SPECS[subject][key]
    assert (spec.type, spec.minimum, spec.maximum) == (type_, minimum, maximum)
