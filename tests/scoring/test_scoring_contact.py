"""Contact scorecards: latest answer, history, window counts, CSAT, reverse NPS, last date."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from connector.scoring import (
    CONTACT_METRICS,
    EmployeeRating,
    ScoringConfig,
    SurveyResponse,
    contact_scorecard,
)
from tests.scoring.scoring_builders import NOW, at, csat, days_ago, nps, rating


def card(
    responses: list[SurveyResponse],
    ratings: list[EmployeeRating] | None = None,
    config: ScoringConfig | None = None,
) -> dict[str, Any]:
    result = contact_scorecard(responses, ratings or [], now=NOW, config=config or ScoringConfig())
    assert list(result) == list(CONTACT_METRICS)  # every key, in the vocabulary's order
    json.dumps(result)  # JSON-ready
    return result


def test_given_no_data_when_scoring_contact_then_every_metric_is_none() -> None:
    assert card([]) == dict.fromkeys(CONTACT_METRICS)


def test_given_one_nps_response_when_scoring_contact_then_nps_fields_from_it() -> None:
    result = card([nps(6, "2026-10-01T08:30", comment="Zu spät geliefert.")])
    assert result == dict.fromkeys(CONTACT_METRICS) | {
        "nps.score": 6,
        "nps.category": "detractor",
        "nps.date": "2026-10-01",
        "nps.comment": "Zu spät geliefert.",
        "nps.responses": 1,
        "cx360.segment": "at_risk",
        "survey.last_date": "2026-10-01",
    }
    assert type(result["nps.score"]) is int


@pytest.mark.parametrize("reverse_input", [False, True])
def test_given_equal_answered_at_when_scoring_contact_then_later_received_wins(
    reverse_input: bool,
) -> None:
    responses = [
        nps(10, "2026-10-01T08:30", received="2026-10-01T09:00", comment="later received"),
        nps(2, "2026-10-01T08:30", received="2026-10-01T08:45", comment="earlier received"),
    ]
    if reverse_input:
        responses.reverse()
    result = card(responses)
    assert (result["nps.score"], result["nps.comment"]) == (10, "later received")
    # walked in (answered_at, received_at) order: 2 then 10 is a change
    assert (result["nps.previous_category"], result["nps.category_changed_at"]) == (
        "detractor",
        "2026-10-01T08:30:00Z",
    )


def test_given_late_older_response_when_scoring_contact_then_latest_kept_history_changes() -> None:
    on_time = [nps(9, "2026-06-01T10:00"), nps(10, "2026-08-01T10:00", comment="Top")]
    before = card(on_time)
    assert (before["nps.previous_category"], before["nps.category_changed_at"]) == (None, None)

    # answered in July, received in October, after the August answer
    late = nps(3, "2026-07-01T10:00", received="2026-10-15T10:00", comment="Schlecht")
    after = card([*on_time, late])
    assert (after["nps.score"], after["nps.date"], after["nps.comment"]) == (
        10,
        "2026-08-01",
        "Top",
    )
    # history 9 -> 3 -> 10: the most recent change is detractor -> promoter in August
    assert (after["nps.previous_category"], after["nps.category_changed_at"]) == (
        "detractor",
        "2026-08-01T10:00:00Z",
    )
    assert after["nps.responses"] == 3


def test_given_latest_response_without_comment_when_scoring_contact_then_comment_none() -> None:
    result = card([nps(9, "2026-06-01T10:00", comment="Alt"), nps(9, "2026-07-01T10:00")])
    assert result["nps.comment"] is None


@pytest.mark.parametrize(
    ("scores", "previous", "changed_at"),
    [
        ([9, 10], None, None),
        ([3, 4, 8, 8, 9], "passive", "2026-05-01T09:15:00Z"),
        ([9, 3, 3], "promoter", "2026-02-01T09:15:00Z"),
        ([9, 3, 10], "detractor", "2026-03-01T09:15:00Z"),
    ],
)
def test_given_history_when_scoring_contact_then_previous_category_and_change_time(
    scores: list[int], previous: str | None, changed_at: str | None
) -> None:
    responses = [nps(s, f"2026-{i + 1:02d}-01T09:15") for i, s in enumerate(scores)]
    result = card(responses)
    assert (result["nps.previous_category"], result["nps.category_changed_at"]) == (
        previous,
        changed_at,
    )


def test_given_only_old_answers_when_scoring_contact_then_latest_kept_window_counts_zero() -> None:
    result = card([nps(4, days_ago(400)), csat(5, days_ago(366))])
    assert (result["nps.score"], result["nps.category"], result["nps.responses"]) == (
        4,
        "detractor",
        0,
    )
    assert (result["csat.last"], result["csat.pct"], result["csat.responses"]) == (5, None, 0)


def test_given_window_edges_when_scoring_contact_then_counts_inclusive_and_future_excluded() -> (
    None
):
    window = timedelta(days=365)
    responses = [
        nps(9, NOW - window),
        nps(9, NOW - window - timedelta(seconds=1)),
        nps(9, NOW),
        nps(9, NOW + timedelta(seconds=1)),
        csat(1, NOW - window),
        csat(5, NOW + timedelta(minutes=5)),
    ]
    result = card(responses)
    assert (result["nps.responses"], result["csat.responses"], result["csat.pct"]) == (2, 1, 0.0)
    # the latest answer ever stands even if a clock put it after now
    assert (result["csat.last"], result["survey.last_date"]) == (5, "2026-11-20")


@pytest.mark.parametrize(
    ("ratings_given", "config", "last", "pct", "count"),
    [
        # default 1..5, satisfied >= 4: 5 and 4 of five -> 40 %
        ([5, 4, 3, 2, 1], ScoringConfig(), 1, 40.0, 5),
        ([3, 4, 4], ScoringConfig(), 4, 66.7, 3),  # 200/3 = 66.67
        # scale 1..10, satisfied >= 8: 8, 10, 9 of six -> 50 %
        ([8, 7, 10, 9, 1, 6], ScoringConfig(csat_scale=10, csat_satisfied_min=8), 6, 50.0, 6),
        ([8, 7, 7], ScoringConfig(csat_scale=10, csat_satisfied_min=8), 7, 33.3, 3),
        # out of scale never reaches the core, but must not crash it: 99 >= 4 counts
        ([0, 99], ScoringConfig(), 99, 50.0, 2),
    ],
)
def test_given_csat_ratings_when_scoring_contact_then_last_and_satisfied_share(
    ratings_given: list[int], config: ScoringConfig, last: int, pct: float, count: int
) -> None:
    responses = [csat(s, days_ago(30 - i)) for i, s in enumerate(ratings_given)]
    result = card(responses, config=config)
    assert (result["csat.last"], result["csat.pct"], result["csat.responses"]) == (
        last,
        pct,
        count,
    )
    assert result["csat.date"] == days_ago(31 - len(ratings_given)).date().isoformat()
    assert result["nps.score"] is None and result["nps.responses"] is None


def test_given_employee_ratings_when_scoring_contact_then_latest_per_employee_counts() -> None:
    ratings = [
        rating("k.berger", 2, 3, "2026-05-01T10:00"),
        rating("k.berger", 9, 8, "2026-09-01T10:00"),  # replaces k.berger's May rating
        rating("s.yilmaz", 7, 4, "2026-06-01T10:00"),
        # equal rated_at: the later received wins
        rating("m.ono", 4, 9, "2026-07-01T10:00", received="2026-07-02T10:00"),
        rating("m.ono", 10, 1, "2026-07-01T10:00", received="2026-07-01T11:00"),
    ]
    result = card([], ratings)
    # counted: 9/8, 7/4, 4/9 -> P=1 (9), passive 1 (7), D=1 (4); 100 * (1 - 1) / 3 = 0
    # relationship mean 20/3 = 6.67 -> detractor; potential mean 21/3 = 7.0
    assert {k: result[k] for k in CONTACT_METRICS if k.startswith("rnps.")} == {
        "rnps.score": 0.0,
        "rnps.category": "detractor",
        "rnps.relationship_avg": 6.7,
        "rnps.potential_avg": 7.0,
        "rnps.raters": 3,
        "rnps.date": "2026-09-01",
    }
    assert result["cx360.segment"] == "untapped"  # potential >= 7, strained relationship


def test_given_mean_just_below_threshold_when_scoring_contact_then_band_uses_unrounded() -> None:
    # 24 employees rate 9/7, one rates 8/6: means 224/25 = 8.96 and 174/25 = 6.96,
    # both shown as 9.0 and 7.0, but below the promoter and potential thresholds.
    ratings = [rating(f"e{i}", 9, 7, "2026-09-01T10:00") for i in range(24)]
    ratings.append(rating("e24", 8, 6, "2026-09-01T10:00"))
    result = card([nps(8, "2026-10-01T10:00")], ratings)
    assert (result["rnps.relationship_avg"], result["rnps.potential_avg"]) == (9.0, 7.0)
    assert result["rnps.category"] == "passive"
    assert result["rnps.score"] == 96.0  # 100 * (24 - 0) / 25
    assert result["cx360.segment"] == "maintain"  # not nurture: 6.96 < 7


@pytest.mark.parametrize(
    ("responses", "last_date"),
    [
        ([nps(9, "2026-06-01T10:00"), csat(4, "2026-07-01T10:00")], "2026-07-01"),
        ([csat(4, "2026-06-01T10:00"), nps(9, "2026-07-01T10:00")], "2026-07-01"),
        ([csat(4, "2026-06-01T23:30+00:00")], "2026-06-01"),
        # 00:30 in Berlin is still the day before in UTC
        ([nps(9, "2026-06-02T00:30+02:00")], "2026-06-01"),
    ],
)
def test_given_responses_of_both_kinds_when_scoring_contact_then_last_date_of_any_kind(
    responses: list[SurveyResponse], last_date: str
) -> None:
    assert card(responses)["survey.last_date"] == last_date


def test_given_csat_only_when_scoring_contact_then_no_segment() -> None:
    # Segments read the customer's NPS category and the staff's ratings, not CSAT.
    assert card([csat(1, days_ago(3))])["cx360.segment"] is None


@pytest.mark.parametrize(
    ("responses", "ratings", "segment"),
    [
        ([nps(2, days_ago(3))], [rating("e", 10, 10, days_ago(3))], "at_risk"),
        ([nps(9, days_ago(3))], [rating("e", 3, 9, days_ago(3))], "untapped"),
        ([nps(10, days_ago(3))], [rating("e", 9, 2, days_ago(3))], "champion"),
        ([nps(7, days_ago(3))], [rating("e", 8, 7, days_ago(3))], "nurture"),
        ([nps(10, days_ago(3))], [], "maintain"),
        ([], [rating("e", 5, 5, days_ago(3))], "maintain"),
        # the contact's category is its latest answer ever, also outside the window
        ([nps(0, days_ago(500))], [], "at_risk"),
    ],
)
def test_given_both_sides_when_scoring_contact_then_segment_from_latest_answer_and_ratings(
    responses: list[SurveyResponse], ratings: list[EmployeeRating], segment: str
) -> None:
    assert card(responses, ratings)["cx360.segment"] == segment


def test_given_naive_and_aware_timestamps_when_scoring_contact_then_compared_as_utc() -> None:
    naive_later = SurveyResponse(
        "nps", 9, at("2026-06-01T10:00").replace(tzinfo=None), at("2026-06-01T10:00")
    )
    aware_earlier = nps(2, "2026-06-01T11:30+02:00")  # 09:30 UTC
    result = card([naive_later, aware_earlier])
    assert (result["nps.score"], result["nps.category_changed_at"]) == (
        9,
        "2026-06-01T10:00:00Z",
    )


@pytest.mark.parametrize(
    ("timezone", "expected_date"),
    [("Europe/Berlin", "2026-11-28"), ("UTC", "2026-11-27"), ("America/New_York", "2026-11-27")],
)
def test_given_answer_just_after_midnight_in_berlin_when_scoring_then_dated_in_business_zone(
    timezone: str, expected_date: str
) -> None:
    # 00:30 in Berlin is 23:30 UTC the day before: the date is the business zone's calendar day.
    answered = at("2026-11-28T00:30:00+01:00")
    result = contact_scorecard(
        [nps(10, answered), csat(5, answered)],
        [rating("rep@firma.example", 8, 8, answered)],
        now=at("2026-12-01T12:00"),
        config=ScoringConfig(timezone=timezone),
    )
    assert {key: result[key] for key in ("nps.date", "csat.date", "rnps.date")} == dict.fromkeys(
        ("nps.date", "csat.date", "rnps.date"), expected_date
    )
    assert result["survey.last_date"] == expected_date
