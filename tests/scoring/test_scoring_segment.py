"""The 360 segment: five rules, first match wins, threshold from configuration."""

from __future__ import annotations

import pytest

from connector.scoring import ReverseNpsSummary, ScoringConfig, segment
from tests.scoring.scoring_builders import NOW


def staff(category: str, potential_avg: float) -> ReverseNpsSummary:
    relationship = {"promoter": 9.5, "passive": 7.5, "detractor": 4.0}[category]
    return ReverseNpsSummary(
        raters=2,
        score=0.0,
        relationship_avg=relationship,
        potential_avg=potential_avg,
        category=category,
        last_rated_at=NOW,
    )


@pytest.mark.parametrize(
    ("customer", "reverse", "expected"),
    [
        (None, None, None),  # no data on either side
        # 1. at_risk: the customer is a detractor, whatever the staff say
        ("detractor", None, "at_risk"),
        ("detractor", staff("detractor", 9.0), "at_risk"),  # before untapped
        ("detractor", staff("promoter", 9.0), "at_risk"),  # before nurture
        # 2. untapped: high potential, strained relationship
        (None, staff("detractor", 7.0), "untapped"),  # threshold is inclusive
        ("promoter", staff("detractor", 8.0), "untapped"),
        ("passive", staff("detractor", 6.99), "maintain"),  # just below the threshold
        # 3. champion: promoter on both sides
        ("promoter", staff("promoter", 3.0), "champion"),
        ("promoter", staff("promoter", 9.0), "champion"),  # before nurture
        ("passive", staff("promoter", 3.0), "maintain"),
        # 4. nurture: high potential
        ("passive", staff("passive", 7.0), "nurture"),
        (None, staff("promoter", 8.0), "nurture"),
        ("promoter", staff("passive", 10.0), "nurture"),
        # 5. maintain: anything else with data
        ("promoter", None, "maintain"),
        ("passive", None, "maintain"),
        ("promoter", staff("passive", 2.0), "maintain"),
        (None, staff("detractor", 2.0), "maintain"),
    ],
)
def test_given_customer_and_staff_view_when_segmenting_then_first_matching_rule(
    customer: str | None, reverse: ReverseNpsSummary | None, expected: str | None
) -> None:
    assert segment(customer, reverse) == expected


@pytest.mark.parametrize(
    ("potential_min", "expected"), [(7.0, "maintain"), (5.5, "nurture"), (5.0, "nurture")]
)
def test_given_configured_potential_threshold_when_segmenting_then_it_applies(
    potential_min: float, expected: str
) -> None:
    config = ScoringConfig(segment_potential_min=potential_min)
    assert segment("passive", staff("passive", 5.5), config) == expected
