"""CSAT: share of satisfied answers (top-2-box on the default 1..5 scale).

A rating counts as satisfied when it is at least ``csat_satisfied_min``. Ratings outside
``1..csat_scale`` are rejected at ingest and never reach the core; should one arrive anyway it
is judged by the same threshold rather than raising, so one bad row cannot stop a recompute.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from connector.scoring.model import DEFAULT_CONFIG, ScoringConfig, SurveyResponse


@dataclass(frozen=True, slots=True)
class CsatSummary:
    """``pct`` = 100 * satisfied / total, unrounded; None when ``total`` is 0."""

    total: int
    satisfied: int
    pct: float | None


def csat_summary(
    responses: Iterable[SurveyResponse],
    *,
    start: datetime,
    now: datetime,
    config: ScoringConfig = DEFAULT_CONFIG,
) -> CsatSummary:
    """Over every CSAT response answered in ``[start, now]`` (not only the latest ones)."""
    total = satisfied = 0
    for response in responses:
        if response.kind != "csat" or not start <= response.answered_at <= now:
            continue
        total += 1
        if response.score >= config.csat_satisfied_min:
            satisfied += 1
    return CsatSummary(total, satisfied, 100 * satisfied / total if total else None)
