"""Customer NPS: summaries of populations, windows, time series and a contact's history.

- A population (an account's contacts, the whole company, one week) counts the latest NPS
  response per contact. Responses without a contact key (anonymous, not yet matched) are each
  their own respondent: there is nobody to deduplicate them against.
- ``NPS = 100 * (P - D) / N`` in -100..100; ``MoE = 1.96 * 100 * sqrt((P/N + D/N - ((P - D)/N)^2)
  / N)`` (Wald, 95 %), None when N < 2. Both unrounded here; scorecards round them.
- The window is ``[now - window_days, now]``, both ends included; a response dated after
  ``now`` is outside it.
- A series has aligned buckets (days at 00:00 UTC, weeks from Monday 00:00 UTC, months from
  the 1st 00:00 UTC). It covers ``[start, end)``: the first bucket is the one containing
  ``start``, the last the one containing the last instant before ``end``, empty buckets
  included. A bucket counts every response inside the whole bucket, also the part before
  ``start``, so a week has the same value whichever range it was asked in (a caller that loads
  responses from storage loads them from ``bucket_start(start, interval)`` for that).
- Contact history (``category_change``): the contact's NPS responses walked oldest first (by
  ``answered_at``; a late-arriving older response takes its place in that order, so it can
  change history but never replaces the latest); each response whose category differs from
  the one before it is a change. The most recent change gives the category before it and the
  time of the response that made it; both None when the category never changed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from connector.scoring.model import DEFAULT_CONFIG, ScoringConfig, SurveyResponse, as_utc
from connector.scoring.values import band

INTERVALS = ("day", "week", "month")
#: The most buckets one series may have: a day each for about 2.7 years, a week each for 19,
#: a month each for 83. One request (``GET /api/v1/stats/nps``, the dashboard) never builds
#: more, whatever range it names.
MAX_BUCKETS = 1_000
#: A series starts and ends between these, so its calendar arithmetic (a bucket's Monday or
#: first of the month, the bucket after the last) stays inside Python's dates.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class NpsSummary:
    """NPS of a population; ``score`` None when ``n`` is 0, ``moe`` None when ``n`` < 2."""

    n: int
    promoters: int
    passives: int
    detractors: int
    score: float | None
    moe: float | None


@dataclass(frozen=True, slots=True)
class NpsBucket:
    """One interval of a series: ``[start, end)`` and the NPS of the responses inside it."""

    start: datetime
    end: datetime
    summary: NpsSummary


@dataclass(frozen=True, slots=True)
class CategoryChange:
    """The most recent change of a contact's NPS category."""

    previous_category: str
    changed_at: datetime


def nps_from_counts(promoters: int, detractors: int, n: int) -> float:
    """NPS = 100 * (P - D) / N, one division of exact integers (``round1`` relies on it)."""
    return 100 * (promoters - detractors) / n


def nps_summary(scores: Iterable[int]) -> NpsSummary:
    """Count promoters, passives and detractors among 0..10 ``scores`` and compute NPS, MoE."""
    promoters = passives = detractors = 0
    for score in scores:
        category = band(score)
        if category == "promoter":
            promoters += 1
        elif category == "passive":
            passives += 1
        else:
            detractors += 1
    n = promoters + passives + detractors
    score_value = nps_from_counts(promoters, detractors, n) if n else None
    moe = None
    if n >= 2:
        # P/N + D/N - ((P-D)/N)^2 over N, written as one exact integer numerator over N^3:
        # never negative from float error (it is 0 when everyone answered alike).
        numerator = (promoters + detractors) * n - (promoters - detractors) ** 2
        moe = 1.96 * 100 * math.sqrt(numerator / n**3)
    return NpsSummary(n, promoters, passives, detractors, score_value, moe)


def latest(responses: Iterable[SurveyResponse]) -> SurveyResponse | None:
    """The latest response (by answered_at, then received_at); None for no responses."""
    return max(responses, key=SurveyResponse.order_key, default=None)


def in_window(moment: datetime, *, start: datetime, now: datetime) -> bool:
    return start <= moment <= now


def window_start(now: datetime, config: ScoringConfig) -> datetime:
    return as_utc(now) - timedelta(days=config.window_days)


def latest_per_contact(responses: Iterable[SurveyResponse]) -> list[SurveyResponse]:
    """The latest response of each contact; responses without a contact are kept each."""
    by_contact: dict[str, SurveyResponse] = {}
    anonymous: list[SurveyResponse] = []
    for response in responses:
        if response.contact is None:
            anonymous.append(response)
            continue
        current = by_contact.get(response.contact)
        if current is None or response.order_key() > current.order_key():
            by_contact[response.contact] = response
    return [*by_contact.values(), *anonymous]


def population_nps(
    responses: Iterable[SurveyResponse],
    *,
    now: datetime,
    config: ScoringConfig = DEFAULT_CONFIG,
    start: datetime | None = None,
) -> NpsSummary:
    """NPS over the latest NPS response per contact answered in ``[start, now]``.

    ``start`` defaults to ``now - window_days``.
    """
    now = as_utc(now)
    first = window_start(now, config) if start is None else as_utc(start)
    inside = (
        r for r in responses if r.kind == "nps" and in_window(r.answered_at, start=first, now=now)
    )
    return nps_summary(r.score for r in latest_per_contact(inside))


def bucket_start(moment: datetime, interval: str, zone: tzinfo = UTC) -> datetime:
    """Start of the ``interval`` bucket (day, week from Monday, month) that contains ``moment``,
    on the calendar of ``zone`` (the business's time zone): midnight there, as an aware time."""
    local = as_utc(moment).astimezone(zone).replace(tzinfo=None)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return _aware(_calendar_start(day, interval), zone)


def _aware(local: datetime, zone: tzinfo) -> datetime:
    return local.replace(tzinfo=zone)


def _calendar_start(day: datetime, interval: str) -> datetime:
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    raise ValueError(f"interval={interval!r}: expected one of {', '.join(INTERVALS)}")


def next_bucket_start(bucket: datetime, interval: str) -> datetime:
    """Start of the bucket after the one starting at ``bucket`` (its zone's wall clock: a week
    across a daylight-saving change is 7 calendar days, not 168 hours)."""
    zone = bucket.tzinfo or UTC
    wall = bucket.replace(tzinfo=None)
    if interval == "day":
        return _aware(wall + timedelta(days=1), zone)
    if interval == "week":
        return _aware(wall + timedelta(weeks=1), zone)
    if interval == "month":
        if wall.month == 12:
            return _aware(wall.replace(year=wall.year + 1, month=1), zone)
        return _aware(wall.replace(month=wall.month + 1), zone)
    raise ValueError(f"interval={interval!r}: expected one of {', '.join(INTERVALS)}")


def bucket_count(start: datetime, end: datetime, interval: str) -> int:
    """At most how many ``interval`` buckets a series over ``[start, end)`` has (the first
    may begin before ``start``, and a zone's calendar shifts a bound by a day), counted from
    the dates alone: the range need not be walked to be refused."""
    start, end = as_utc(start), as_utc(end)
    days = max(0, (end - start).days)
    if interval == "day":
        return days + 2
    if interval == "week":
        return days // 7 + 2
    if interval == "month":
        return max(0, (end.year - start.year) * 12 + end.month - start.month) + 2
    raise ValueError(f"interval={interval!r}: expected one of {', '.join(INTERVALS)}")


def series_range_problem(start: datetime, end: datetime, interval: str) -> tuple[str, str] | None:
    """Why a series over ``[start, end)`` cannot be built, as (the bound at fault: "start" or
    "end", the reason), or None when it can: a bound outside ``EARLIEST``..``LATEST``, or
    more than ``MAX_BUCKETS`` buckets."""
    for name, moment in (("end", end), ("start", start)):
        if not EARLIEST <= as_utc(moment) <= LATEST:
            return name, f"Outside {EARLIEST:%Y-%m-%d}..{LATEST:%Y-%m-%d}."
    count = bucket_count(start, end, interval)
    if count > MAX_BUCKETS:
        return "start", (
            f"The range spans up to {count:,} {interval} buckets; at most {MAX_BUCKETS:,} at "
            "once. Start later, or use a longer interval."
        )
    return None


def _bucket_bounds(
    start: datetime, end: datetime, interval: str, zone: tzinfo
) -> Iterator[datetime]:
    bound = bucket_start(start, interval, zone)
    while bound < end:
        yield bound
        bound = next_bucket_start(bound, interval)


def nps_series(
    responses: Iterable[SurveyResponse],
    *,
    start: datetime,
    end: datetime,
    interval: str = "week",
    zone: tzinfo = UTC,
) -> list[NpsBucket]:
    """NPS per aligned bucket over ``[start, end)``; latest response per contact per bucket.

    Buckets follow the calendar of ``zone`` (the business's time zone)."""
    start, end = as_utc(start), as_utc(end)
    if start < end and (count := bucket_count(start, end, interval)) > MAX_BUCKETS:
        raise ValueError(
            f"series {start:%Y-%m-%d}..{end:%Y-%m-%d} by {interval}: up to {count:,} buckets, "
            f"more than {MAX_BUCKETS:,}"
        )
    bounds = list(_bucket_bounds(start, end, interval, zone))
    if not bounds:
        if interval not in INTERVALS:
            raise ValueError(f"interval={interval!r}: expected one of {', '.join(INTERVALS)}")
        return []
    series_end = next_bucket_start(bounds[-1], interval)
    per_bucket: dict[datetime, list[SurveyResponse]] = {bound: [] for bound in bounds}
    for response in responses:
        if response.kind != "nps" or not bounds[0] <= response.answered_at < series_end:
            continue
        per_bucket[bucket_start(response.answered_at, interval, zone)].append(response)
    return [
        NpsBucket(
            bound,
            next_bucket_start(bound, interval),
            nps_summary(r.score for r in latest_per_contact(per_bucket[bound])),
        )
        for bound in bounds
    ]


def category_change(responses: Iterable[SurveyResponse]) -> CategoryChange | None:
    """The most recent change of category among one contact's NPS responses, if any."""
    change: CategoryChange | None = None
    before: str | None = None
    for response in sorted(responses, key=SurveyResponse.order_key):
        category = band(response.score)
        if before is not None and category != before:
            change = CategoryChange(before, response.answered_at)
        before = category
    return change
