"""NPS of populations: the formula, the margin of error, windows, latest per contact, series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.scoring import (
    INTERVALS,
    MAX_BUCKETS,
    ScoringConfig,
    SurveyResponse,
    bucket_count,
    bucket_start,
    nps_series,
    nps_summary,
    population_nps,
    series_range_problem,
)
from connector.scoring.nps import category_change
from tests.scoring.scoring_builders import NOW, at, days_ago, nps


@pytest.mark.parametrize(
    ("scores", "counts", "score", "moe"),
    [
        ([], (0, 0, 0, 0), None, None),
        ([9], (1, 1, 0, 0), 100.0, None),  # N < 2: no margin of error
        ([0], (1, 0, 0, 1), -100.0, None),
        ([9, 10], (2, 2, 0, 0), 100.0, 0.0),  # everyone alike: no variance
        ([7, 8], (2, 0, 2, 0), 0.0, 0.0),
        # P=1, D=1, N=2: p+d - (p-d)^2 = 1 - 0 = 1; 196 * sqrt(1/2) = 138.5929
        ([10, 0], (2, 1, 0, 1), 0.0, 138.5929),
        # P=5, passives=3, D=2, N=10: NPS = 100 * (5 - 2) / 10 = 30.
        # p = 0.5, d = 0.2: p + d - (p - d)^2 = 0.7 - 0.09 = 0.61; 0.61 / 10 = 0.061;
        # sqrt(0.061) = 0.246982; MoE = 1.96 * 100 * 0.246982 = 48.4084
        ([9, 9, 9, 10, 10, 7, 8, 8, 3, 6], (10, 5, 3, 2), 30.0, 48.4084),
        # P=1, passive=1, D=1, N=3: NPS 0; 2/3 - 0 = 0.6667; / 3 = 0.2222; sqrt = 0.4714;
        # MoE = 196 * 0.4714 = 92.3953
        ([10, 7, 6], (3, 1, 1, 1), 0.0, 92.3953),
        # P=1, D=2, N=3: NPS = 100 * (1 - 2) / 3 = -33.33...; p + d - (p - d)^2 = 1 - 1/9 = 8/9;
        # / 3 = 8/27 = 0.296296; sqrt = 0.544331; MoE = 196 * 0.544331 = 106.6889
        ([9, 0, 6], (3, 1, 0, 2), -100 / 3, 106.6889),
    ],
)
def test_given_scores_when_summarising_then_counts_nps_and_moe(
    scores: list[int],
    counts: tuple[int, int, int, int],
    score: float | None,
    moe: float | None,
) -> None:
    summary = nps_summary(scores)
    assert (summary.n, summary.promoters, summary.passives, summary.detractors) == counts
    assert summary.score == (None if score is None else pytest.approx(score))
    assert summary.moe == (None if moe is None else pytest.approx(moe, abs=1e-4))


def test_given_window_edges_when_population_nps_then_both_ends_count_and_future_does_not() -> None:
    window = timedelta(days=365)
    responses = [
        nps(10, NOW - window, contact="on-start"),
        nps(0, NOW - window - timedelta(seconds=1), contact="just-before"),
        nps(10, NOW, contact="on-now"),
        nps(0, NOW + timedelta(seconds=1), contact="after-now"),
    ]
    summary = population_nps(responses, now=NOW)
    assert (summary.n, summary.promoters, summary.detractors, summary.score) == (2, 2, 0, 100.0)


def test_given_custom_window_or_start_when_population_nps_then_only_that_range_counts() -> None:
    responses = [nps(10, days_ago(5), contact="a"), nps(0, days_ago(40), contact="b")]
    assert population_nps(responses, now=NOW).n == 2
    assert population_nps(responses, now=NOW, config=ScoringConfig(window_days=30)).n == 1
    assert population_nps(responses, now=NOW, start=days_ago(10)).score == 100.0


@pytest.mark.parametrize(
    ("responses", "n", "score"),
    [
        # a contact counts once, with its latest answer
        ([nps(0, days_ago(30), contact="a"), nps(10, days_ago(3), contact="a")], 1, 100.0),
        # latest inside the window: a future-dated answer does not hide the one before it
        (
            [nps(0, days_ago(30), contact="a"), nps(10, NOW + timedelta(days=1), contact="a")],
            1,
            -100.0,
        ),
        # equal answered_at: the later received wins, whatever the input order
        (
            [
                nps(10, days_ago(3), received=days_ago(1), contact="a"),
                nps(0, days_ago(3), received=days_ago(2), contact="a"),
            ],
            1,
            100.0,
        ),
        (
            [
                nps(0, days_ago(3), received=days_ago(2), contact="a"),
                nps(10, days_ago(3), received=days_ago(1), contact="a"),
            ],
            1,
            100.0,
        ),
        # responses without a contact are each their own respondent
        ([nps(10, days_ago(3)), nps(0, days_ago(2))], 2, 0.0),
        # CSAT answers are not NPS answers
        ([SurveyResponse("csat", 5, days_ago(1), days_ago(1), contact="a")], 0, None),
    ],
)
def test_given_population_when_population_nps_then_latest_per_contact_in_window(
    responses: list[SurveyResponse], n: int, score: float | None
) -> None:
    summary = population_nps(responses, now=NOW)
    assert (summary.n, summary.score) == (n, score)


def test_given_weeks_across_month_boundary_when_series_then_weeks_start_monday_utc() -> None:
    # 2026-09-28 is a Monday; its week runs into October.
    responses = [
        nps(3, "2026-09-29T08:00", contact="a"),
        nps(10, "2026-10-02T08:00", contact="a"),  # same week: replaces a's 3
        nps(9, "2026-10-04T23:59", contact="b"),  # Sunday, still that week
        nps(0, "2026-10-05T00:00", contact="b"),  # Monday 00:00 opens the next week
        nps(0, "2026-10-20T00:00", contact="c"),
    ]
    series = nps_series(responses, start=at("2026-09-30T12:00"), end=at("2026-10-19T00:00"))
    assert [(b.start, b.end) for b in series] == [
        (at("2026-09-28"), at("2026-10-05")),
        (at("2026-10-05"), at("2026-10-12")),
        (at("2026-10-12"), at("2026-10-19")),
    ]
    assert [(b.summary.n, b.summary.score) for b in series] == [
        (2, 100.0),
        (1, -100.0),
        (0, None),  # an empty bucket is still listed
    ]


@pytest.mark.parametrize(
    ("interval", "start", "end", "bounds"),
    [
        (
            "day",
            "2026-10-01T15:00",
            "2026-10-03T00:00",
            ["2026-10-01", "2026-10-02", "2026-10-03"],
        ),
        (
            "day",
            "2026-10-01T15:00",
            "2026-10-03T00:01",
            ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04"],
        ),
        (
            "month",
            "2026-11-20T12:00",
            "2027-02-01T00:00",
            ["2026-11-01", "2026-12-01", "2027-01-01", "2027-02-01"],
        ),
        (
            "week",
            "2026-12-30T00:00",
            "2027-01-05T00:00",
            ["2026-12-28", "2027-01-04", "2027-01-11"],
        ),
        ("week", "2026-10-05T00:00", "2026-10-05T00:00", []),
        ("week", "2026-10-06T00:00", "2026-10-05T00:00", []),
    ],
)
def test_given_interval_when_series_then_aligned_buckets_cover_start_to_end_exclusive(
    interval: str, start: str, end: str, bounds: list[str]
) -> None:
    series = nps_series([], start=at(start), end=at(end), interval=interval)
    starts = [b.start for b in series]
    ends = [b.end for b in series]
    assert starts == [at(s) for s in bounds[:-1]]
    assert ends == [at(s) for s in bounds[1:]]


def test_given_response_before_start_in_first_bucket_when_series_then_it_counts() -> None:
    # The first bucket is the whole week containing start: a week has one value.
    responses = [nps(0, "2026-09-28T09:00", contact="a")]
    series = nps_series(responses, start=at("2026-10-01"), end=at("2026-10-02"))
    assert [(b.start, b.summary.n) for b in series] == [(at("2026-09-28"), 1)]


@pytest.mark.parametrize(
    ("moment", "interval", "expected"),
    [
        ("2026-10-04T23:59:59", "day", "2026-10-04"),
        ("2026-10-04T23:59:59", "week", "2026-09-28"),  # Sunday belongs to Monday's week
        ("2026-10-05T00:00:00", "week", "2026-10-05"),
        ("2026-10-05T01:00:00+02:00", "week", "2026-09-28"),  # 23:00 UTC on Sunday
        ("2026-12-31T23:59:59", "month", "2026-12-01"),
    ],
)
def test_given_moment_when_finding_bucket_then_aligned_start_in_utc(
    moment: str, interval: str, expected: str
) -> None:
    assert bucket_start(at(moment), interval) == at(expected)


def test_given_unknown_interval_when_series_then_value_error() -> None:
    with pytest.raises(ValueError, match="interval"):
        nps_series([], start=at("2026-10-01"), end=at("2026-11-01"), interval="year")


ZONES = [UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("America/Los_Angeles"),
         ZoneInfo("Pacific/Kiritimati")]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1),
                       timezones=st.just(UTC)),
    length=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=1200)),
    interval=st.sampled_from(INTERVALS),
    zone=st.sampled_from(ZONES),
)  # fmt: skip
def test_given_any_range_when_counting_buckets_then_the_count_bounds_the_series_closely(
    start: datetime, length: timedelta, interval: str, zone: ZoneInfo
) -> None:
    # the count refuses a range without walking it: it must never be below the series it
    # stands for (or a request could build more than MAX_BUCKETS), and at most 2 above
    end = start + length
    count = bucket_count(start, end, interval)
    if count > MAX_BUCKETS:
        with pytest.raises(ValueError, match="more than 1,000"):
            nps_series([], start=start, end=end, interval=interval, zone=zone)
        return
    built = len(nps_series([], start=start, end=end, interval=interval, zone=zone))
    assert built <= count <= built + 2


@pytest.mark.parametrize(
    ("interval", "days", "allowed"),
    [("day", 997, True), ("day", 999, False), ("week", 6986, True), ("week", 7000, False),
     ("month", 82 * 365, True), ("month", 84 * 365, False)],
)  # fmt: skip
def test_given_range_near_the_bucket_limit_when_checked_then_refused_only_past_it(
    interval: str, days: int, allowed: bool
) -> None:
    start = at("2000-01-03")
    problem = series_range_problem(start, start + timedelta(days=days), interval)
    if allowed:
        assert problem is None
    else:
        assert problem is not None and problem[0] == "start"
        assert f"at most {MAX_BUCKETS:,}" in problem[1]


@pytest.mark.parametrize(
    ("start", "end", "bound"),
    [("1899-12-31", "1900-02-01", "start"), ("8999-12-01", "9000-01-02", "end"),
     ("0001-01-01", "9999-12-31", "end")],
)  # fmt: skip
def test_given_range_beyond_the_calendar_bounds_when_checked_then_the_bound_is_named(
    start: str, end: str, bound: str
) -> None:
    problem = series_range_problem(at(start), at(end), "month")
    assert problem is not None and problem[0] == bound
    assert "Outside 1900-01-01..9000-01-01" in problem[1]


T = [at(f"2026-0{m}-01T10:00") for m in range(1, 8)]


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([], None),
        ([(9, T[0])], None),
        ([(9, T[0]), (10, T[1])], None),  # promoter twice: no change
        ([(3, T[0]), (4, T[1]), (8, T[2]), (8, T[3]), (9, T[4])], ("passive", T[4])),
        ([(9, T[0]), (3, T[1]), (3, T[2])], ("promoter", T[1])),
        ([(9, T[0]), (3, T[1]), (10, T[2])], ("detractor", T[2])),  # back and forth
        # given out of order: history is walked by answered_at
        ([(10, T[2]), (9, T[0]), (3, T[1])], ("detractor", T[2])),
    ],
)
def test_given_history_when_finding_category_change_then_most_recent_change(
    history: list[tuple[int, datetime]], expected: tuple[str, datetime] | None
) -> None:
    change = category_change(nps(score, when) for score, when in history)
    found = None if change is None else (change.previous_category, change.changed_at)
    assert found == expected
