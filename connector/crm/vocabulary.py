"""The metric vocabulary the manifest and mappings are checked against, from the scoring core.

Value types: integer, decimal, category, segment, date, datetime, text.
"""

from __future__ import annotations

from collections.abc import Mapping

from connector.crm.types import Subject
from connector.scoring import CATEGORIES, METRIC_SPECS, SEGMENTS


def metric_types(subject: Subject) -> Mapping[str, str]:
    """Metric key -> value type for ``subject`` (``contact`` or ``account``)."""
    return {key: spec.type for key, spec in METRIC_SPECS[subject].items()}


def enum_values(value_type: str) -> tuple[str, ...]:
    """The values a category or segment metric takes; empty for other types."""
    if value_type == "category":
        return tuple(CATEGORIES)
    if value_type == "segment":
        return tuple(SEGMENTS)
    return ()
