"""The plain data the scoring core works on: survey responses, employee ratings, configuration.

Timestamps are normalised to UTC on construction. A naive datetime is taken to be UTC (some
database drivers drop the offset of a UTC value), so comparisons never mix naive and aware
values. The ``*.date`` metrics are calendar dates in the business's time zone
(``ScoringConfig.timezone``).

Ordering ("the latest"): a response is later than another when its ``answered_at`` is later;
on equal ``answered_at`` the later ``received_at`` wins. Should both be equal as well, the
remaining fields decide in a fixed order, so that the result never depends on the order of
the input (the scorecard of a shuffled input is the same scorecard).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from connector.config import ConfigError, business_zone

CATEGORIES: tuple[str, ...] = ("promoter", "passive", "detractor")
SEGMENTS: tuple[str, ...] = ("at_risk", "untapped", "champion", "nurture", "maintain")


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _optional_text(value: str | None) -> tuple[int, str]:
    # None sorts before any text; a sortable stand-in because None and str do not compare.
    return (0, "") if value is None else (1, value)


@dataclass(frozen=True, slots=True)
class SurveyResponse:
    """One customer answer: ``kind`` ``"nps"`` (score 0..10) or ``"csat"`` (1..scale)."""

    kind: str
    score: int
    answered_at: datetime
    received_at: datetime
    comment: str | None = None
    contact: str | None = None
    touchpoint: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "answered_at", as_utc(self.answered_at))
        object.__setattr__(self, "received_at", as_utc(self.received_at))

    def order_key(self) -> tuple[Any, ...]:
        """Sort key: ascending order is oldest first, the maximum is "the latest"."""
        return (
            self.answered_at,
            self.received_at,
            self.score,
            _optional_text(self.comment),
            _optional_text(self.touchpoint),
            _optional_text(self.contact),
            self.kind,
        )


@dataclass(frozen=True, slots=True)
class EmployeeRating:
    """One employee's rating of a customer (a contact or an account, keyed by ``subject``)."""

    employee: str
    subject: str
    relationship: int
    potential: int
    rated_at: datetime
    received_at: datetime
    comment: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "rated_at", as_utc(self.rated_at))
        object.__setattr__(self, "received_at", as_utc(self.received_at))

    def order_key(self) -> tuple[Any, ...]:
        """Sort key: by ``rated_at``, ties broken by the later ``received_at``."""
        return (
            self.rated_at,
            self.received_at,
            self.relationship,
            self.potential,
            _optional_text(self.comment),
        )


# ScoringConfig field -> configuration variable (connector/config.py)
CONFIG_VARIABLES: Mapping[str, str] = {
    "window_days": "CX360_WINDOW_DAYS",
    "csat_scale": "CX360_CSAT_SCALE",
    "csat_satisfied_min": "CX360_CSAT_SATISFIED_MIN",
    "segment_potential_min": "CX360_SEGMENT_POTENTIAL_MIN",
}


def _config_problems(values: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """Each out-of-range ScoringConfig field as (field name, value, what was expected)."""
    problems: list[tuple[str, Any, str]] = []
    window_days = values["window_days"]
    scale = values["csat_scale"]
    satisfied_min = values["csat_satisfied_min"]
    potential_min = values["segment_potential_min"]
    if window_days < 1:
        problems.append(("window_days", window_days, "expected at least 1"))
    if scale < 2:
        problems.append(("csat_scale", scale, "expected at least 2"))
    if not 1 <= satisfied_min <= scale:
        problems.append(("csat_satisfied_min", satisfied_min, f"expected 1..{scale}"))
    if not 0 <= potential_min <= 10:
        problems.append(("segment_potential_min", potential_min, "expected 0..10"))
    return problems


@dataclass(frozen=True)
class ScoringConfig:
    """The thresholds of the scoring rules (DESIGN.md: configuration, not code)."""

    window_days: int = 365
    csat_scale: int = 5
    csat_satisfied_min: int = 4
    segment_potential_min: float = 7.0
    timezone: str = "UTC"  # IANA name: the calendar of the *.date metrics

    def __post_init__(self) -> None:
        business_zone(self.timezone, "timezone")
        problems = _config_problems({f.name: getattr(self, f.name) for f in fields(self)})
        if problems:
            raise ValueError("; ".join(f"{name}={value!r}: {why}" for name, value, why in problems))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ScoringConfig:
        """Read the ``CX360_*`` scoring variables from ``config``; missing keys keep defaults.

        Raises ``connector.config.ConfigError`` (a ``ValueError``) naming the variable when a
        value is not a number or out of range.
        """
        values: dict[str, Any] = {f.name: f.default for f in fields(cls)}
        for name, variable in CONFIG_VARIABLES.items():
            raw = config.get(variable)
            if raw is None or raw == "":
                continue
            parse = float if name == "segment_potential_min" else int
            try:
                values[name] = parse(raw)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{variable}={raw!r}: expected {parse.__name__}") from exc
        values["timezone"] = business_zone(str(config.get("CX360_TIMEZONE") or "UTC")).key
        problems = _config_problems(values)
        if problems:
            raise ConfigError(
                "; ".join(f"{CONFIG_VARIABLES[n]}={v!r}: {why}" for n, v, why in problems)
            )
        return cls(**values)

    @property
    def zone(self) -> ZoneInfo:
        """The business's time zone."""
        return ZoneInfo(self.timezone)


DEFAULT_CONFIG = ScoringConfig()
