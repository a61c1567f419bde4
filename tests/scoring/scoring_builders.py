"""Small builders for scoring tests: timestamps as short ISO strings, defaults for the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.scoring import EmployeeRating, SurveyResponse

# The scorecards in these tests are computed as of this moment.
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    """``"2026-06-01T10:00"`` (UTC unless an offset is given) as an aware datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def nps(
    score: int,
    answered: str | datetime,
    *,
    received: str | datetime | None = None,
    comment: str | None = None,
    contact: str | None = None,
) -> SurveyResponse:
    return _response("nps", score, answered, received, comment, contact)


def csat(
    score: int,
    answered: str | datetime,
    *,
    received: str | datetime | None = None,
    contact: str | None = None,
) -> SurveyResponse:
    return _response("csat", score, answered, received, None, contact)


def _response(
    kind: str,
    score: int,
    answered: str | datetime,
    received: str | datetime | None,
    comment: str | None,
    contact: str | None,
) -> SurveyResponse:
    answered_at = at(answered) if isinstance(answered, str) else answered
    if received is None:
        received_at = answered_at
    else:
        received_at = at(received) if isinstance(received, str) else received
    return SurveyResponse(kind, score, answered_at, received_at, comment, contact)


def rating(
    employee: str,
    relationship: int,
    potential: int,
    rated: str | datetime,
    *,
    subject: str = "anna@kunde.example",
    received: str | datetime | None = None,
) -> EmployeeRating:
    rated_at = at(rated) if isinstance(rated, str) else rated
    if received is None:
        received_at = rated_at
    else:
        received_at = at(received) if isinstance(received, str) else received
    return EmployeeRating(employee, subject, relationship, potential, rated_at, received_at)
