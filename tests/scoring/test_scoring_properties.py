"""Properties of the scoring core over generated data (hypothesis)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.scoring import (
    METRIC_SPECS,
    EmployeeRating,
    SurveyResponse,
    account_scorecard,
    contact_scorecard,
    nps_series,
    nps_summary,
    population_nps,
    round1,
)
from tests.scoring.scoring_builders import NOW

FAST = settings(max_examples=200, deadline=None)

# Coarse timestamps (whole days, noon or midnight) so that ties on answered_at are common.
moments = st.builds(
    lambda days, half: NOW - timedelta(days=days, hours=12 * half),
    st.integers(-5, 420),
    st.integers(0, 1),
)
delays = st.integers(0, 2).map(lambda hours: timedelta(hours=hours))
comments = st.sampled_from([None, "gut", "schlecht"])


@st.composite
def responses(draw: st.DrawFn, contacts: tuple[str | None, ...] = ("a", "b", None)) -> Any:
    kind = draw(st.sampled_from(["nps", "csat"]))
    score = draw(st.integers(0, 10) if kind == "nps" else st.integers(1, 5))
    answered = draw(moments)
    return SurveyResponse(
        kind,
        score,
        answered,
        answered + draw(delays),
        draw(comments),
        draw(st.sampled_from(contacts)),
        draw(st.sampled_from([None, "support"])),
    )


@st.composite
def ratings(draw: st.DrawFn) -> EmployeeRating:
    rated = draw(moments)
    return EmployeeRating(
        draw(st.sampled_from(["e1", "e2", "e3"])),
        draw(st.sampled_from(["a", "b", "x.example"])),
        draw(st.integers(0, 10)),
        draw(st.integers(0, 10)),
        rated,
        rated + draw(delays),
        draw(comments),
    )


ISO_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def assert_conforms(subject: str, card: dict[str, Any]) -> None:
    """Every value is None or has the type, range and allowed values of its MetricSpec."""
    specs = METRIC_SPECS[subject]
    assert list(card) == list(specs)
    for key, value in card.items():
        if value is None:
            continue
        spec = specs[key]
        if spec.type in ("integer", "decimal"):
            assert type(value) is (int if spec.type == "integer" else float), key
            assert spec.minimum is None or value >= spec.minimum, key
            assert spec.maximum is None or value <= spec.maximum, key
            if spec.type == "decimal":
                assert round1(value) == value, key
        elif spec.type in ("category", "segment", "revenue_status"):
            assert value in spec.values, key
        elif spec.type == "amount":
            assert type(value) is float and round(value, 2) == value, key
        elif spec.type == "date":
            assert date.fromisoformat(value).isoformat() == value, key
        elif spec.type == "datetime":
            assert ISO_DATETIME.fullmatch(value), key
        else:
            assert isinstance(value, str), key


@FAST
@given(st.lists(st.integers(0, 10), max_size=60))
def test_given_any_scores_when_summarising_then_nps_bounded_and_counts_add_up(
    scores: list[int],
) -> None:
    summary = nps_summary(scores)
    assert summary.promoters + summary.passives + summary.detractors == summary.n == len(scores)
    if summary.n == 0:
        assert summary.score is None
    else:
        assert summary.score is not None and -100 <= summary.score <= 100
    if summary.n < 2:
        assert summary.moe is None
    else:
        assert summary.moe is not None and summary.moe >= 0


@FAST
@given(st.lists(st.integers(9, 10), min_size=1, max_size=30), st.booleans())
def test_given_only_promoters_or_detractors_when_scoring_then_plus_or_minus_100(
    top_scores: list[int], flip: bool
) -> None:
    scores = [s - 9 if flip else s for s in top_scores]  # 9, 10 -> 0, 1: all detractors
    expected = -100.0 if flip else 100.0
    assert nps_summary(scores).score == expected
    contacts = {f"c{i}": [SurveyResponse("nps", s, NOW, NOW)] for i, s in enumerate(scores)}
    assert account_scorecard(contacts, [], now=NOW)["nps.score"] == expected
    answers = [SurveyResponse("nps", s, NOW, NOW, contact=f"c{i}") for i, s in enumerate(scores)]
    assert population_nps(answers, now=NOW).score == expected


@FAST
@given(st.data(), st.lists(responses(), max_size=12), st.lists(ratings(), max_size=8))
def test_given_shuffled_input_when_scoring_contact_then_same_scorecard(
    data: st.DataObject, answers: list[SurveyResponse], staff: list[EmployeeRating]
) -> None:
    card = contact_scorecard(answers, staff, now=NOW)
    assert_conforms("contact", card)
    shuffled = contact_scorecard(
        data.draw(st.permutations(answers)), data.draw(st.permutations(staff)), now=NOW
    )
    assert shuffled == card


@FAST
@given(
    st.data(),
    st.dictionaries(
        st.sampled_from(["a", "b", "c", "d"]), st.lists(responses(), max_size=6), max_size=4
    ),
    st.lists(ratings(), max_size=8),
    st.one_of(st.none(), st.decimals(-100, 10**12, places=4, allow_nan=False)),
)
def test_given_shuffled_input_when_scoring_account_then_same_scorecard(
    data: st.DataObject,
    contacts: dict[str, list[SurveyResponse]],
    staff: list[EmployeeRating],
    revenue: Decimal | None,
) -> None:
    card = account_scorecard(contacts, staff, now=NOW, revenue_amount=revenue,
                             revenue_currency="EUR")  # fmt: skip
    assert_conforms("account", card)
    keys = data.draw(st.permutations(list(contacts)))
    shuffled = {key: data.draw(st.permutations(contacts[key])) for key in keys}
    assert (
        account_scorecard(
            shuffled,
            data.draw(st.permutations(staff)),
            now=NOW,
            revenue_amount=revenue,
            revenue_currency="EUR",
        )
        == card
    )


@FAST
@given(st.data(), st.lists(responses(contacts=("a", "b", "c", None)), max_size=15))
def test_given_shuffled_input_when_population_nps_then_same_summary(
    data: st.DataObject, answers: list[SurveyResponse]
) -> None:
    summary = population_nps(answers, now=NOW)
    assert population_nps(data.draw(st.permutations(answers)), now=NOW) == summary
    assert summary.score is None or -100 <= summary.score <= 100


@FAST
@given(
    moments,
    st.integers(0, 120).map(lambda days: timedelta(days=days, hours=5)),
    st.sampled_from(["day", "week", "month"]),
)
def test_given_any_range_when_series_then_buckets_contiguous_and_first_contains_start(
    start: datetime, length: timedelta, interval: str
) -> None:
    end = start + length
    series = nps_series([], start=start, end=end, interval=interval)
    assert series[0].start <= start < series[0].end
    assert series[-1].start < end <= series[-1].end
    for before, after in pairwise(series):
        assert before.end == after.start


@FAST
@given(st.floats(min_value=-1000, max_value=1000, allow_nan=False))
def test_given_any_value_when_rounding_then_symmetric_and_within_half_a_tenth(
    value: float,
) -> None:
    rounded = round1(value)
    assert rounded is not None
    assert abs(rounded - value) <= 0.05 + 1e-9
    assert round1(-value) == -rounded
