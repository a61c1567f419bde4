"""round1 (half away from zero), bands on unrounded values, ISO formats in UTC."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from connector.scoring import band, round1
from connector.scoring.values import iso_date, iso_datetime


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (12.25, 12.3),  # Python's round(12.25, 1) gives 12.2 (banker's); we round away
        (-12.25, -12.3),
        (12.24, 12.2),
        (-12.24, -12.2),
        (0.25, 0.3),  # round(0.25, 1) == 0.2
        (0.15, 0.2),  # the double below 0.15 still rounds as the 0.15 a reader sees
        (0.05, 0.1),  # 100 * 1 / 2000: a score can end in ...5 at the second decimal
        (-0.05, -0.1),
        (100 / 3, 33.3),
        (200 / 3, 66.7),
        (-200 / 3, -66.7),
        (100.0, 100.0),
        (-100.0, -100.0),
        (7, 7.0),
    ],
)
def test_given_value_when_rounding_then_one_decimal_half_away_from_zero(
    value: float | None, expected: float | None
) -> None:
    assert round1(value) == expected


def test_given_tiny_negative_when_rounding_then_zero_without_sign() -> None:
    result = round1(-0.04)
    assert result == 0.0
    assert math.copysign(1.0, result or 0.0) == 1.0


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_given_non_finite_when_rounding_then_value_error(value: float) -> None:
    with pytest.raises(ValueError):
        round1(value)


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        *((s, "detractor") for s in range(7)),
        (7, "passive"),
        (8, "passive"),
        (9, "promoter"),
        (10, "promoter"),
        # means: the same thresholds on the unrounded value
        (6.99, "detractor"),
        (7.0, "passive"),
        (8.96, "passive"),  # displays as 9.0 once rounded, still passive
        (9.0, "promoter"),
        (9.5, "promoter"),
    ],
)
def test_given_score_when_banding_then_category_by_thresholds(score: float, expected: str) -> None:
    assert band(score) == expected


@pytest.mark.parametrize(
    ("moment", "expected_date", "expected_datetime"),
    [
        (datetime(2026, 6, 1, 10, 15, 30, 999, tzinfo=UTC), "2026-06-01", "2026-06-01T10:15:30Z"),
        # 01:00 at +02:00 is still the previous day in UTC
        (
            datetime(2026, 3, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))),
            "2026-02-28",
            "2026-02-28T23:00:00Z",
        ),
        # naive values are taken as UTC
        (datetime(2026, 12, 31, 23, 59, 59), "2026-12-31", "2026-12-31T23:59:59Z"),
    ],
)
def test_given_moment_when_formatting_then_utc_date_and_second_precision(
    moment: datetime, expected_date: str, expected_datetime: str
) -> None:
    assert iso_date(moment) == expected_date
    assert iso_datetime(moment) == expected_datetime
