"""From a scorecard to the CRM field changes to send: pure functions, no I/O.

Write safety lives here so every caller gets it:
- only mapped, writable fields are produced;
- the CRM shows exactly the current scorecard (DESIGN.md "Field ownership"): a metric without
  data (None) clears its field when cx360 last wrote a value there (a latest answer without a
  comment clears the comment; a CSAT % or account NPS that aged out of the window is cleared);
  a field already empty costs nothing;
- category, segment and revenue status values become the mapping's picklist API values;
- a field whose value equals what cx360 last wrote is left out (zero calls for unchanged data);
- values from older data never replace newer ones: a scorecard computed before the one last
  written changes nothing, and each metric family (nps, csat, rnps) is skipped when the CRM
  already holds a later date for it than the scorecard.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from connector.crm.mapping import CrmMapping, FieldMapping, SubjectMapping
from connector.crm.types import CrmRecordRef, FollowUpTask

# Metric family -> the date metric that tells how recent the family's values are.
_FAMILY_DATES: Mapping[str, str] = {"nps": "nps.date", "csat": "csat.date", "rnps": "rnps.date"}
_TEXT_LIMIT = 32768


def _crm_value(mapping: FieldMapping, value: Any) -> Any:
    if mapping.value_type in {"category", "segment", "revenue_status"}:
        if value not in mapping.values:
            raise ValueError(f"{mapping.metric}={value!r} has no translation for {mapping.field}")
        return mapping.values[value]
    if mapping.value_type == "integer":
        return int(value)
    if mapping.value_type == "decimal":
        return round(float(value), 1)
    if mapping.value_type == "amount":
        return round(float(value), 2)
    if mapping.value_type == "text":
        text = str(value)
        limit = (mapping.spec.length if mapping.spec else None) or _TEXT_LIMIT
        return text[:limit]
    return value  # dates and datetimes: ISO strings as the scorecard has them


def scorecard_field_values(scorecard: Mapping[str, Any], mapping: SubjectMapping) -> dict[str, Any]:
    """The CRM field values a scorecard gives, for the mapping's written fields; None left out."""
    values: dict[str, Any] = {}
    for field_mapping in mapping.written():
        value = scorecard.get(field_mapping.metric)
        if value is None:
            continue
        values[field_mapping.field] = _crm_value(field_mapping, value)
    return values


def _same(a: Any, b: Any) -> bool:
    """Equal as written: ``9`` and ``"9"`` and ``9.0`` are the same number."""
    if a == b:
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    try:
        return math.isclose(float(a), float(b), rel_tol=0, abs_tol=1e-9)
    except (TypeError, ValueError):
        return False


def _stale_families(
    scorecard: Mapping[str, Any], mapping: SubjectMapping, last_written: Mapping[str, Any]
) -> set[str]:
    """Families whose date in the CRM (as last written) is later than the scorecard's."""
    by_metric = mapping.by_metric()
    stale: set[str] = set()
    for family, date_metric in _FAMILY_DATES.items():
        field_mapping = by_metric.get(date_metric)
        new_date = scorecard.get(date_metric)
        if field_mapping is None or new_date is None:
            continue
        old_date = last_written.get(field_mapping.field)
        if old_date is not None and str(old_date)[:10] > str(new_date)[:10]:
            stale.add(family)
    return stale


def field_changes(
    scorecard: Mapping[str, Any],
    mapping: SubjectMapping,
    last_written: Mapping[str, Any] | None,
    *,
    as_of: datetime | None = None,
    last_written_as_of: datetime | None = None,
    clear_all_empty: bool = False,
) -> dict[str, Any]:
    """The fields to send: the scorecard's values that differ from what was last written.

    A field whose metric is None is sent as None (clear) when ``last_written`` holds a value
    for it, or always with ``clear_all_empty`` (``cx360 sync --full``: the CRM may hold a
    value cx360 has no record of). ``last_written`` is field -> value as cx360 last wrote it
    (None: nothing yet).
    ``as_of``/``last_written_as_of``: when the scorecard and the last written one were
    computed; an older scorecard than the one written gives no changes at all.
    """
    if as_of is not None and last_written_as_of is not None and as_of < last_written_as_of:
        return {}
    previous = last_written or {}
    new: dict[str, Any] = {
        f.field: None
        for f in mapping.written()
        if scorecard.get(f.metric) is None
        and (clear_all_empty or previous.get(f.field) not in (None, ""))
    }
    new.update(scorecard_field_values(scorecard, mapping))
    stale = _stale_families(scorecard, mapping, previous)
    family_of = mapping.family_of()
    return {
        name: value
        for name, value in new.items()
        if family_of.get(name) not in stale
        and not (name in previous and _same(previous[name], value))
    }


def follow_up_task(
    scorecard: Mapping[str, Any],
    mapping: CrmMapping,
    record: CrmRecordRef,
    last_written: Mapping[str, Any] | None,
    *,
    today: date,
    email: str | None = None,
) -> FollowUpTask | None:
    """The follow-up task for a contact whose category changes to detractor in this write.

    Once per change: when the category cx360 last wrote is already detractor, there is none.
    """
    rule = mapping.follow_up
    category_field = mapping.contact.by_metric().get("nps.category")
    if not rule.enabled or category_field is None or scorecard.get("nps.category") != "detractor":
        return None
    detractor_value = category_field.values["detractor"]
    if (last_written or {}).get(category_field.field) == detractor_value:
        return None
    placeholders = {
        "score": _text(scorecard.get("nps.score")),
        "comment": _text(scorecard.get("nps.comment")),
        "category": "detractor",
        "previous_category": _text(scorecard.get("nps.previous_category")),
        "email": email or "",
    }
    return FollowUpTask(
        subject="contact",
        record_id=record.crm_id,
        title=rule.subject.format_map(placeholders)[:255],
        body=rule.body.format_map(placeholders),
        due=today + timedelta(days=rule.due_in_days),
        owner_id=record.owner_id if rule.assign_to_owner else None,
        priority=rule.priority,
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value)
