"""How numbers and timestamps appear in a scorecard: one decimal, bands, ISO dates.

``round1`` rounds half away from zero (12.25 -> 12.3, -12.25 -> -12.3), not Python's
banker's rounding. It rounds the shortest decimal form of the float (``repr``), i.e. the number
a reader sees: 0.15 -> 0.2 although the double nearest to 0.15 lies just below it. Callers
compute a score with a single division of exact integers (``100 * (P - D) / N``), so that
decimal form is the exact quotient whenever the quotient has one.

Bands apply to unrounded values: ``band(8.96)`` is passive even though it displays as 9.0.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal

from connector.scoring.model import as_utc

_ONE_DECIMAL = Decimal("0.1")


def round1(value: float | None) -> float | None:
    """``value`` with one decimal, half away from zero; None stays None."""
    if value is None:
        return None
    if not math.isfinite(value):
        raise ValueError(f"cannot round {value!r}")
    rounded = float(Decimal(repr(float(value))).quantize(_ONE_DECIMAL, rounding=ROUND_HALF_UP))
    return rounded + 0.0  # -0.0 -> 0.0: a JSON "-0.0" in a CRM field helps nobody


def band(score: float) -> str:
    """Category of a 0..10 answer or of a mean of answers.

    Integers: 0-6 detractor, 7-8 passive, 9-10 promoter. Means: >= 9 promoter, >= 7 passive,
    else detractor (the same thresholds, so both readings agree on integers).
    """
    if score >= 9:
        return "promoter"
    if score >= 7:
        return "passive"
    return "detractor"


def iso_date(moment: datetime, zone: tzinfo = UTC) -> str:
    """The calendar date of ``moment`` in ``zone`` (the business's time zone), ``YYYY-MM-DD``."""
    return as_utc(moment).astimezone(zone).date().isoformat()


def iso_datetime(moment: datetime) -> str:
    """UTC timestamp to the second, ``YYYY-MM-DDTHH:MM:SSZ``."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")
