"""The metric keys (DESIGN.md's vocabulary) and what each value looks like.

Mappings map these keys to CRM fields and the manifest declares a CRM field per key; both are
validated against ``METRIC_SPECS``. Value types:

- ``integer``  - a count or a raw answer (``int``); ``minimum``/``maximum`` bound it.
- ``decimal``  - a score, percentage or mean, one decimal (``float``); bounded likewise.
- ``category`` - one of ``CATEGORIES``; ``segment`` - one of ``SEGMENTS`` (``values``).
- ``date``     - ``"YYYY-MM-DD"`` (UTC date); ``datetime`` - ``"YYYY-MM-DDTHH:MM:SSZ"``.
- ``text``     - free text (a customer's comment; the ISO currency code of a revenue).
- ``amount``   - a sum of money with two decimals (``float``), in the currency beside it.
- ``revenue_status`` - one of ``REVENUE_STATUSES`` (``values``): ``at_risk``, ``safe``,
  ``no_signal`` (``connector.scoring.revenue``).

``nps.score`` differs by subject: a contact's latest 0..10 answer (integer), an account's
-100..100 NPS (decimal). ``csat.last`` has no fixed maximum: the scale is configuration
(``CX360_CSAT_SCALE``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from connector.scoring.model import CATEGORIES, SEGMENTS
from connector.scoring.revenue import REVENUE_STATUSES

MetricType = Literal[
    "integer", "decimal", "category", "segment", "date", "datetime", "text", "amount",
    "revenue_status",
]  # fmt: skip
METRIC_TYPES: tuple[MetricType, ...] = (
    "integer",
    "decimal",
    "category",
    "segment",
    "date",
    "datetime",
    "text",
    "amount",
    "revenue_status",
)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """What one metric's value is: its type, allowed values or range, label, description."""

    key: str
    type: MetricType
    label: str
    description: str
    values: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    decimals: int | None = None


def _integer(
    key: str, label: str, description: str, minimum: int = 0, maximum: int | None = None
) -> MetricSpec:
    return MetricSpec(key, "integer", label, description, (), minimum, maximum, 0)


def _decimal(key: str, label: str, description: str, minimum: float, maximum: float) -> MetricSpec:
    return MetricSpec(key, "decimal", label, description, (), minimum, maximum, 1)


def _category(key: str, label: str, description: str) -> MetricSpec:
    return MetricSpec(key, "category", label, description, CATEGORIES)


def _date(key: str, label: str, description: str) -> MetricSpec:
    return MetricSpec(key, "date", label, description)


_SEGMENT = MetricSpec(
    "cx360.segment",
    "segment",
    "360 segment",
    "at_risk, untapped, champion, nurture or maintain: customer view and staff view combined.",
    SEGMENTS,
)
_CSAT_PCT = _decimal(
    "csat.pct", "CSAT %", "Share of satisfied CSAT answers in the window, in percent.", 0, 100
)
_CSAT_RESPONSES = _integer(
    "csat.responses", "CSAT responses", "Number of CSAT answers in the window."
)
_RNPS_SCORE = _decimal(
    "rnps.score",
    "Reverse NPS",
    "Employee NPS of the customer: 100 * (P - D) / N over the latest relationship ratings.",
    -100,
    100,
)
_RNPS_CATEGORY = _category(
    "rnps.category", "Reverse NPS category", "Band of the mean relationship rating."
)
_RNPS_RELATIONSHIP = _decimal(
    "rnps.relationship_avg",
    "Relationship (staff)",
    "Mean of the employees' latest relationship ratings (0-10).",
    0,
    10,
)
_RNPS_POTENTIAL = _decimal(
    "rnps.potential_avg",
    "Potential (staff)",
    "Mean of the employees' latest potential ratings (0-10).",
    0,
    10,
)

_CONTACT_SPECS: tuple[MetricSpec, ...] = (
    _integer("nps.score", "NPS answer", "The contact's latest NPS answer (0-10).", 0, 10),
    _category("nps.category", "NPS category", "Band of the latest NPS answer."),
    _date("nps.date", "NPS date", "Date of the latest NPS answer."),
    MetricSpec("nps.comment", "text", "NPS comment", "Comment of the latest NPS answer."),
    _category(
        "nps.previous_category",
        "Previous NPS category",
        "The category before the most recent change of category.",
    ),
    MetricSpec(
        "nps.category_changed_at",
        "datetime",
        "NPS category changed at",
        "When the answer that changed the category was given.",
    ),
    _integer("nps.responses", "NPS responses", "Number of NPS answers in the window."),
    _integer("csat.last", "Last CSAT rating", "The contact's latest CSAT rating.", 1),
    _date("csat.date", "CSAT date", "Date of the latest CSAT rating."),
    _CSAT_PCT,
    _CSAT_RESPONSES,
    _RNPS_SCORE,
    _RNPS_CATEGORY,
    _RNPS_RELATIONSHIP,
    _RNPS_POTENTIAL,
    _integer("rnps.raters", "Staff raters", "Number of employees whose rating counts."),
    _date("rnps.date", "Staff rating date", "Date of the most recent counted employee rating."),
    _SEGMENT,
    _date("survey.last_date", "Last survey answer", "Date of the latest answer of any kind."),
)

_ACCOUNT_SPECS: tuple[MetricSpec, ...] = (
    _decimal(
        "nps.score",
        "NPS",
        "100 * (P - D) / N over the latest NPS answer per contact in the window.",
        -100,
        100,
    ),
    # 1.96 * 100 * sqrt(variance / N) with variance <= 1 and N >= 2: at most 138.6.
    _decimal("nps.moe", "NPS margin of error", "95 % margin of error of the NPS (Wald).", 0, 196),
    _integer("nps.responses", "NPS respondents", "Contacts with an NPS answer in the window."),
    _integer("nps.promoters", "Promoters", "Contacts whose latest answer in the window is 9-10."),
    _integer("nps.passives", "Passives", "Contacts whose latest answer in the window is 7-8."),
    _integer("nps.detractors", "Detractors", "Contacts whose latest answer in the window is 0-6."),
    _CSAT_PCT,
    _CSAT_RESPONSES,
    _RNPS_SCORE,
    _RNPS_CATEGORY,
    _RNPS_RELATIONSHIP,
    _RNPS_POTENTIAL,
    _integer(
        "rnps.raters",
        "Staff ratings",
        "Number of latest employee ratings of the account and its contacts.",
    ),
    _SEGMENT,
    # Issue #22: the revenue of the window (connector.scoring.revenue has the definitions).
    MetricSpec(
        "revenue.amount",
        "amount",
        "Revenue",
        "Closed-won deals with a close date in the window, in the currency beside it.",
        decimals=2,
    ),
    MetricSpec(
        "revenue.currency",
        "text",
        "Revenue currency",
        "ISO code of the revenue's currency (the CRM's company or corporate currency).",
    ),
    MetricSpec(
        "revenue.status",
        "revenue_status",
        "Revenue status",
        "at_risk (NPS < 0), safe (NPS >= 0) or no_signal (revenue, no NPS answer).",
        REVENUE_STATUSES,
    ),
)

CONTACT_METRICS: tuple[str, ...] = tuple(spec.key for spec in _CONTACT_SPECS)
ACCOUNT_METRICS: tuple[str, ...] = tuple(spec.key for spec in _ACCOUNT_SPECS)

METRIC_SPECS: Mapping[str, Mapping[str, MetricSpec]] = MappingProxyType(
    {
        "contact": MappingProxyType({spec.key: spec for spec in _CONTACT_SPECS}),
        "account": MappingProxyType({spec.key: spec for spec in _ACCOUNT_SPECS}),
    }
)
