"""Account scorecards: the roll-up of its contacts' answers and of all staff ratings."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from connector.scoring import (
    ACCOUNT_METRICS,
    EmployeeRating,
    ScoringConfig,
    SurveyResponse,
    account_scorecard,
)
from tests.scoring.scoring_builders import NOW, csat, days_ago, nps, rating


def card(
    contacts: Mapping[str, Iterable[SurveyResponse]],
    ratings: list[EmployeeRating] | None = None,
    config: ScoringConfig | None = None,
) -> dict[str, Any]:
    result = account_scorecard(contacts, ratings or [], now=NOW, config=config or ScoringConfig())
    assert list(result) == list(ACCOUNT_METRICS)
    json.dumps(result)
    return result


def nps_part(result: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(result[k] for k in ACCOUNT_METRICS if k.startswith("nps."))


@pytest.mark.parametrize("contacts", [{}, {"a@x.example": []}, {"a@x.example": iter([])}])
def test_given_no_data_when_scoring_account_then_every_metric_is_none(
    contacts: Mapping[str, Iterable[SurveyResponse]],
) -> None:
    assert card(contacts) == dict.fromkeys(ACCOUNT_METRICS)


def test_given_contacts_when_scoring_account_then_latest_in_window_answer_per_contact() -> None:
    contacts = {
        # the in-window 3 counts; the 10 from last year is outside the window
        "a": [nps(10, days_ago(400)), nps(3, days_ago(100))],
        # 9 then 8: the later 8 counts; a 0 dated after now does not
        "b": [nps(9, days_ago(50)), nps(8, days_ago(20)), nps(0, days_ago(-2))],
        "c": [nps(10, days_ago(5))],
        "d": [csat(5, days_ago(5))],  # no NPS: not counted
    }
    # counted: a 3 (D), b 8 (passive), c 10 (P): N=3, NPS = 100 * (1 - 1) / 3 = 0.0
    # MoE: p + d - (p - d)^2 = 2/3; / 3 = 0.2222; sqrt = 0.4714; 196 * 0.4714 = 92.3953 -> 92.4
    result = card(contacts)
    assert nps_part(result) == (0.0, 92.4, 3, 1, 1, 1)
    # customer side: mean (3 + 8 + 10) / 3 = 7.0 -> passive; no staff ratings -> maintain
    assert result["cx360.segment"] == "maintain"


def test_given_contact_key_when_scoring_account_then_mapping_key_decides_not_response_field() -> (
    None
):
    # Two contacts whose responses carry no contact field are still two respondents.
    result = card({"a": [nps(9, days_ago(3))], "b": [nps(0, days_ago(3))]})
    assert nps_part(result)[:3] == (0.0, 138.6, 2)  # 196 * sqrt(1/2) = 138.59


def test_given_one_respondent_when_scoring_account_then_no_margin_of_error() -> None:
    assert nps_part(card({"a": [nps(6, days_ago(3))]})) == (-100.0, None, 1, 0, 0, 1)


def test_given_only_old_answers_when_scoring_account_then_counts_zero_scores_none() -> None:
    result = card({"a": [nps(9, days_ago(400)), csat(5, days_ago(400))]})
    assert nps_part(result) == (None, None, 0, 0, 0, 0)
    assert (result["csat.pct"], result["csat.responses"]) == (None, 0)
    assert result["cx360.segment"] is None  # the account's customer side reads the window


def test_given_csat_from_several_contacts_when_scoring_account_then_every_answer_counts() -> None:
    contacts = {
        "a": [csat(5, days_ago(30)), csat(2, days_ago(10))],  # both count, not only the latest
        "b": [csat(4, days_ago(5)), csat(5, days_ago(400))],  # 400 days ago: outside
        "c": [csat(3, days_ago(1))],
    }
    # in window: 5, 2, 4, 3 -> satisfied 5 and 4: 100 * 2 / 4 = 50.0
    result = card(contacts)
    assert (result["csat.pct"], result["csat.responses"]) == (50.0, 4)


def test_given_ratings_of_contacts_and_account_when_scoring_account_then_latest_per_subject() -> (
    None
):
    ratings = [
        rating("k.berger", 2, 9, days_ago(90), subject="a@x.example"),
        rating("k.berger", 9, 9, days_ago(10), subject="a@x.example"),  # replaces the 2
        rating("k.berger", 6, 8, days_ago(20), subject="b@x.example"),
        rating("k.berger", 10, 7, days_ago(30), subject="x.example"),  # the account itself
        rating("s.yilmaz", 7, 3, days_ago(40), subject="x.example"),
    ]
    # counted: 9/9, 6/8, 10/7, 7/3 -> N=4, P=2 (9, 10), D=1 (6): 100 * (2 - 1) / 4 = 25.0
    # relationship mean 32/4 = 8.0 -> passive; potential mean 27/4 = 6.75 -> 6.8
    result = card({"a@x.example": [nps(9, days_ago(3))]}, ratings)
    assert {k: result[k] for k in ACCOUNT_METRICS if k.startswith("rnps.")} == {
        "rnps.score": 25.0,
        "rnps.category": "passive",
        "rnps.relationship_avg": 8.0,
        "rnps.potential_avg": 6.8,
        "rnps.raters": 4,
    }
    # customer promoter, staff passive, potential 6.75 < 7 -> maintain
    assert result["cx360.segment"] == "maintain"


@pytest.mark.parametrize(
    ("latest_scores", "ratings", "nps_score", "segment"),
    [
        # mean (10 + 10 + 0) / 3 = 6.67 -> detractor: at risk although the NPS is +33.3
        ([10, 10, 0], [], 33.3, "at_risk"),
        # mean (9 + 10) / 2 = 9.5 -> promoter; staff mean 9 -> promoter
        ([9, 10], [rating("e", 9, 2, days_ago(3))], 100.0, "champion"),
        # mean (9 + 8) / 2 = 8.5 -> passive; staff detractor with potential 9
        ([9, 8], [rating("e", 4, 9, days_ago(3))], 50.0, "untapped"),
        # mean (9 + 7) / 2 = 8 -> passive; staff passive with potential 7
        ([9, 7], [rating("e", 8, 7, days_ago(3))], 50.0, "nurture"),
    ],
)
def test_given_contacts_latest_scores_when_scoring_account_then_segment_from_their_mean(
    latest_scores: list[int], ratings: list[EmployeeRating], nps_score: float, segment: str
) -> None:
    contacts = {f"c{i}": [nps(s, days_ago(3))] for i, s in enumerate(latest_scores)}
    result = card(contacts, ratings)
    assert (result["nps.score"], result["cx360.segment"]) == (nps_score, segment)
