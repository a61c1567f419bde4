"""The metric vocabulary the manifest and mappings are checked against, from the scoring core.

Value types: integer, decimal, category, segment, date, datetime, text, amount,
revenue_status.
"""

from __future__ import annotations

from collections.abc import Mapping

from connector.crm.types import Subject
from connector.scoring import CATEGORIES, METRIC_SPECS, SEGMENTS
from connector.scoring.revenue import REVENUE_STATUSES


def metric_types(subject: Subject) -> Mapping[str, str]:
    """Metric key -> value type for ``subject`` (``contact`` or ``account``)."""
    return {key: spec.type for key, spec in METRIC_SPECS[subject].items()}


def enum_values(value_type: str) -> tuple[str, ...]:
    """The values a category, segment or revenue status metric takes; empty for other types."""
    if value_type == "category":
        return tuple(CATEGORIES)
    if value_type == "segment":
        return tuple(SEGMENTS)
    if value_type == "revenue_status":
        return REVENUE_STATUSES
    return ()
