"""Reverse NPS: what the company's own staff say about a customer.

Only each employee's latest rating of a subject counts (by ``rated_at``; ties: the later
``received_at``); there is no window, a rating stands until the employee rates again. The
unit is (employee, subject): for a contact all ratings share one subject, so it is one rating
per employee; for an account an employee who rated two of its contacts and the account itself
contributes three latest ratings, and ``raters`` counts those ratings.

``score`` = 100 * (P - D) / N over the latest relationship ratings (NPS bands);
``category`` = band of the unrounded mean relationship rating.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from connector.scoring.model import EmployeeRating
from connector.scoring.values import band


@dataclass(frozen=True, slots=True)
class ReverseNpsSummary:
    """Unrounded reverse-NPS figures over ``raters`` latest ratings (at least one)."""

    raters: int
    score: float
    relationship_avg: float
    potential_avg: float
    category: str
    last_rated_at: datetime


def latest_ratings(ratings: Iterable[EmployeeRating]) -> list[EmployeeRating]:
    """The latest rating per (employee, subject)."""
    latest: dict[tuple[str, str], EmployeeRating] = {}
    for rating in ratings:
        key = (rating.employee, rating.subject)
        current = latest.get(key)
        if current is None or rating.order_key() > current.order_key():
            latest[key] = rating
    return list(latest.values())


def reverse_nps(ratings: Iterable[EmployeeRating]) -> ReverseNpsSummary | None:
    """Reverse NPS over the latest rating per (employee, subject); None without ratings."""
    counted = latest_ratings(ratings)
    if not counted:
        return None
    n = len(counted)
    relationships = [r.relationship for r in counted]
    promoters = sum(1 for value in relationships if band(value) == "promoter")
    detractors = sum(1 for value in relationships if band(value) == "detractor")
    relationship_avg = sum(relationships) / n
    return ReverseNpsSummary(
        raters=n,
        score=100 * (promoters - detractors) / n,
        relationship_avg=relationship_avg,
        potential_avg=sum(r.potential for r in counted) / n,
        category=band(relationship_avg),
        last_rated_at=max(r.rated_at for r in counted),
    )
