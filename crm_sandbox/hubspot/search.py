"""CRM search (``POST /crm/v3/objects/<type>/search``): filter groups (OR of ANDs), a text
query, sorts, and paging by ``after``. With the ``search_delay_ms`` fault, a record written
less than that long ago is not found yet, as HubSpot's search index lags its writes."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from crm_sandbox.hubspot.calls import Call
from crm_sandbox.hubspot.errors import hs_error
from crm_sandbox.replies import Reply
from crm_sandbox.routing import Routes

MAX_SEARCH_LIMIT = 200
MAX_FILTER_GROUPS = 5
MAX_FILTERS = 25
#: "The search endpoints are limited to 10,000 total results for any given query" (paging
#: beyond is a 400): developers.hubspot.com/docs/api/crm/search, "Limitations".
MAX_SEARCH_RESULTS = 10_000

routes = Routes()


@routes.post("/crm/v3/objects/<object_type>/search", "{object_type}.search")
def search(call: Call, object_type: str) -> Reply:
    body = call.json_object()
    limit = int(body.get("limit") or 10)
    if not 0 < limit <= MAX_SEARCH_LIMIT:
        raise hs_error(400, "VALIDATION_ERROR", f"limit must be between 1 and {MAX_SEARCH_LIMIT}")
    groups = body.get("filterGroups") or []
    filters_total = sum(len(g.get("filters") or []) for g in groups)
    if len(groups) > MAX_FILTER_GROUPS or filters_total > MAX_FILTERS:
        raise hs_error(
            400,
            "VALIDATION_ERROR",
            f"Too many filters: at most {MAX_FILTER_GROUPS} filterGroups and {MAX_FILTERS} filters",
        )
    known = call.data.properties[object_type]
    predicates: list[list[Callable[[dict[str, str]], bool]]] = []
    for group in groups:
        compiled = []
        for spec in group.get("filters") or []:
            name = spec.get("propertyName")
            if name not in known:
                raise hs_error(400, "VALIDATION_ERROR", f'Property "{name}" does not exist')
            compiled.append(_filter(known[name], spec))
        predicates.append(compiled)
    text = str(body.get("query") or "").lower()
    delay = call.controls.faults["hubspot"].search_delay_ms / 1000
    now = time.monotonic()
    matched = []
    for rid, record in call.data.records[object_type].items():
        if delay and now - call.data.written.get((object_type, rid), 0.0) < delay:
            continue
        props = record["properties"]
        if predicates and not any(all(p(props) for p in group) for group in predicates):
            continue
        if text and not any(text in str(v).lower() for v in props.values()):
            continue
        matched.append(record)
    matched.sort(key=lambda r: int(r["id"]))
    for sort in reversed(body.get("sorts") or []):
        name = sort.get("propertyName") if isinstance(sort, dict) else str(sort).lstrip("-")
        descending = (
            (sort.get("direction") == "DESCENDING")
            if isinstance(sort, dict)
            else str(sort).startswith("-")
        )
        numeric = known.get(str(name), {}).get("type") == "number"
        matched.sort(
            key=lambda r, n=name, num=numeric: (  # type: ignore[misc]
                _number(r["properties"].get(n)) or 0.0
                if num
                else str(r["properties"].get(n) or "").lower()
            ),
            reverse=descending,
        )
    after = int(body.get("after") or 0)
    if after + limit > MAX_SEARCH_RESULTS:
        raise hs_error(
            400,
            "VALIDATION_ERROR",
            f"The search endpoints are limited to {MAX_SEARCH_RESULTS} total results: "
            f"after {after} with limit {limit} goes beyond",
        )
    page = matched[after : after + limit]
    out: dict[str, Any] = {
        "total": len(matched),
        "results": [call.render(object_type, r, body.get("properties") or None) for r in page],
    }
    if after + limit < len(matched):
        out["paging"] = {"next": {"after": str(after + limit)}}
    return Reply(200, out)


def _filter(prop: dict[str, Any], spec: dict[str, Any]) -> Callable[[dict[str, str]], bool]:
    name, op = prop["name"], spec.get("operator", "EQ")
    numeric = prop["type"] == "number"
    moment = prop["type"] in ("date", "datetime")

    def norm(value: Any) -> Any:
        if value is None:
            return None
        if numeric:
            return _number(value)
        if moment:
            return _epoch_ms(value)
        return str(value).lower()

    value = norm(spec.get("value"))
    values = {norm(v) for v in spec.get("values") or []}
    high = norm(spec.get("highValue"))

    def check(props: dict[str, str]) -> bool:
        actual = norm(props.get(name))
        if op == "HAS_PROPERTY":
            return actual not in (None, "")
        if op == "NOT_HAS_PROPERTY":
            return actual in (None, "")
        if op == "EQ":
            return bool(actual == value)
        if op == "NEQ":
            return bool(actual != value)
        if op == "IN":
            return actual in values
        if op == "NOT_IN":
            return actual not in values
        if op == "CONTAINS_TOKEN":
            return actual is not None and str(value).strip("*") in str(actual)
        if op == "NOT_CONTAINS_TOKEN":
            return actual is None or str(value).strip("*") not in str(actual)
        if actual is None or value is None:
            return False
        try:
            if op == "GT":
                return bool(actual > value)
            if op == "GTE":
                return bool(actual >= value)
            if op == "LT":
                return bool(actual < value)
            if op == "LTE":
                return bool(actual <= value)
            if op == "BETWEEN":
                return bool(value <= actual <= high)
        except TypeError:
            return False
        raise hs_error(400, "VALIDATION_ERROR", f"Unsupported operator: {op}")

    return check


def _number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _epoch_ms(value: Any) -> int | None:
    """A date or datetime as milliseconds since the epoch: filters give them as epoch
    milliseconds (or ISO 8601 text), records store ISO 8601."""
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)
