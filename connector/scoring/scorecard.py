"""Scorecards: every metric of a contact or an account as one flat, JSON-ready dict.

Keys are the dotted metric keys of ``CONTACT_METRICS`` / ``ACCOUNT_METRICS``, all present.
Values: scores, percentages and means rounded with ``round1`` (bands and thresholds use the
unrounded values); counts and raw answers ``int``; categories and segments ``str``; ``*.date``
``"YYYY-MM-DD"`` (UTC); ``nps.category_changed_at`` ``"YYYY-MM-DDTHH:MM:SSZ"``.

A metric with no data is None. Counts follow the data of their kind: None while the subject
has no response (or rating) of that kind at all, otherwise an ``int`` that may be 0, so a
count that ages out of the window reaches the CRM as 0 (push never overwrites with None).

Contact: ``nps.score``/``category``/``date``/``comment`` come from the latest NPS response
ever, ``csat.last``/``date`` from the latest CSAT response ever (no window: the latest answer
stands until the customer answers again, even one dated after ``now`` by clock skew);
``nps.responses``, ``csat.pct`` and ``csat.responses`` count the window ``[now - window_days,
now]``. ``survey.last_date`` is the date of the latest response of any kind.

Account: ``nps.*`` over the latest NPS response per contact in the window (the contact is the
key of ``contact_responses``, not ``SurveyResponse.contact``); ``csat.*`` over all its
contacts' CSAT responses in the window; ``rnps.*`` over the latest rating per (employee,
subject) of its contacts and of the account itself. ``revenue.*`` from the account's revenue
in the window as read from the CRM (``connector.scoring.revenue``); the status uses the
unrounded account NPS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from connector.scoring.csat import csat_summary
from connector.scoring.metrics import ACCOUNT_METRICS, CONTACT_METRICS
from connector.scoring.model import (
    DEFAULT_CONFIG,
    EmployeeRating,
    ScoringConfig,
    SurveyResponse,
    as_utc,
)
from connector.scoring.nps import (
    category_change,
    in_window,
    latest,
    nps_summary,
    window_start,
)
from connector.scoring.revenue import revenue_metrics
from connector.scoring.reverse import ReverseNpsSummary, reverse_nps
from connector.scoring.segment import segment
from connector.scoring.values import band, iso_date, iso_datetime, round1

ScoreCard = dict[str, Any]


def _reverse_metrics(reverse: ReverseNpsSummary | None) -> ScoreCard:
    if reverse is None:
        return dict.fromkeys(
            ("rnps.score", "rnps.category", "rnps.relationship_avg", "rnps.potential_avg")
        ) | {"rnps.raters": None}
    return {
        "rnps.score": round1(reverse.score),
        "rnps.category": reverse.category,
        "rnps.relationship_avg": round1(reverse.relationship_avg),
        "rnps.potential_avg": round1(reverse.potential_avg),
        "rnps.raters": reverse.raters,
    }


def contact_scorecard(
    responses: Iterable[SurveyResponse],
    ratings: Iterable[EmployeeRating],
    *,
    now: datetime,
    config: ScoringConfig = DEFAULT_CONFIG,
) -> ScoreCard:
    """The contact metrics from one contact's responses and the employee ratings of it."""
    now = as_utc(now)
    start = window_start(now, config)
    zone = config.zone
    answers = list(responses)
    nps = [r for r in answers if r.kind == "nps"]
    csat = [r for r in answers if r.kind == "csat"]
    latest_nps = latest(nps)
    latest_csat = latest(csat)
    latest_any = latest(answers)
    change = category_change(nps)
    csat_window = csat_summary(csat, start=start, now=now, config=config)
    reverse = reverse_nps(ratings)
    category = band(latest_nps.score) if latest_nps else None

    card: ScoreCard = {
        "nps.score": int(latest_nps.score) if latest_nps else None,
        "nps.category": category,
        "nps.date": iso_date(latest_nps.answered_at, zone) if latest_nps else None,
        "nps.comment": latest_nps.comment if latest_nps else None,
        "nps.previous_category": change.previous_category if change else None,
        "nps.category_changed_at": iso_datetime(change.changed_at) if change else None,
        "nps.responses": (
            sum(1 for r in nps if in_window(r.answered_at, start=start, now=now)) if nps else None
        ),
        "csat.last": int(latest_csat.score) if latest_csat else None,
        "csat.date": iso_date(latest_csat.answered_at, zone) if latest_csat else None,
        "csat.pct": round1(csat_window.pct),
        "csat.responses": csat_window.total if csat else None,
        **_reverse_metrics(reverse),
        "rnps.date": iso_date(reverse.last_rated_at, zone) if reverse else None,
        "cx360.segment": segment(category, reverse, config),
        "survey.last_date": iso_date(latest_any.answered_at, zone) if latest_any else None,
    }
    return {key: card[key] for key in CONTACT_METRICS}


def account_scorecard(
    contact_responses: Mapping[str, Iterable[SurveyResponse]],
    ratings: Iterable[EmployeeRating],
    *,
    now: datetime,
    config: ScoringConfig = DEFAULT_CONFIG,
    revenue_amount: Decimal | None = None,
    revenue_currency: str | None = None,
) -> ScoreCard:
    """The account metrics from its contacts' responses (contact key -> responses), all
    employee ratings of its contacts and of the account itself, and its revenue in the window
    (None: unknown or not read)."""
    now = as_utc(now)
    start = window_start(now, config)
    any_nps = any_csat = False
    latest_scores: list[int] = []
    csat_all: list[SurveyResponse] = []
    for given in contact_responses.values():
        answers = list(given)
        nps = [r for r in answers if r.kind == "nps"]
        any_nps = any_nps or bool(nps)
        newest = latest(r for r in nps if in_window(r.answered_at, start=start, now=now))
        if newest is not None:
            latest_scores.append(newest.score)
        csat = [r for r in answers if r.kind == "csat"]
        any_csat = any_csat or bool(csat)
        csat_all.extend(csat)

    population = nps_summary(latest_scores)
    csat_window = csat_summary(csat_all, start=start, now=now, config=config)
    reverse = reverse_nps(ratings)
    # Customer side of the segment: band of the mean latest score, not of the NPS.
    category = band(sum(latest_scores) / len(latest_scores)) if latest_scores else None

    counts: ScoreCard = {
        "nps.responses": population.n,
        "nps.promoters": population.promoters,
        "nps.passives": population.passives,
        "nps.detractors": population.detractors,
    }
    card: ScoreCard = {
        "nps.score": round1(population.score),
        "nps.moe": round1(population.moe),
        **(counts if any_nps else dict.fromkeys(counts)),
        "csat.pct": round1(csat_window.pct),
        "csat.responses": csat_window.total if any_csat else None,
        **_reverse_metrics(reverse),
        "cx360.segment": segment(category, reverse, config),
        **revenue_metrics(revenue_amount, revenue_currency, population.score),
    }
    return {key: card[key] for key in ACCOUNT_METRICS}
