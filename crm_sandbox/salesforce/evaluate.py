"""SOQL evaluated over the org's records: a parsed query's field names resolved (with one
parent relationship, e.g. ``Account.Name``), indexes used where the WHERE clause allows, then
filter, order, offset and limit, as Salesforce answers them. The parser is ``soql.py``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from crm_sandbox import ids
from crm_sandbox.salesforce import soql
from crm_sandbox.salesforce.data import SalesforceData, match_key
from crm_sandbox.salesforce.schema import Field, FieldError, JsonTypeError, coerce

#: Aggregate queries answer at most this many rows and have no next page (SOQL and SOSL
#: Reference, "Aggregate Functions": queries with aggregate functions don't support queryMore).
AGGREGATE_ROWS = 2000


@dataclass(frozen=True)
class DateRange:
    """A relative date literal resolved for today (UTC): the first and last day it covers."""

    first: str
    last: str

    @classmethod
    def of(cls, literal: soql.RelativeDate, today: dt.date) -> DateRange:
        # SOQL and SOSL Reference, "Date Formats and Date Literals": LAST_N_DAYS:n starts
        # with the current day and continues for the past n days.
        return cls((today - dt.timedelta(days=literal.n)).isoformat(), today.isoformat())

    def compare(self, actual: Any, op: str) -> bool:
        if not isinstance(actual, str):
            return op == "!="
        day = actual[:10]
        inside = self.first <= day <= self.last
        return {
            "=": inside,
            "!=": not inside,
            "<": day < self.first,
            "<=": day <= self.last,
            ">": day > self.last,
            ">=": day >= self.first,
        }.get(op, False)


def row_getter(row: dict[str, Any], columns: dict[str, str]) -> Callable[[str], Any]:
    """Field values of a plain row, by any spelling of a column in ``columns`` (lowercase)."""
    return lambda name: row.get(columns.get(name.lower(), ""))


def matches(node: soql.Condition | soql.BoolOp | None, get: Callable[[str], Any]) -> bool:
    """Evaluate a WHERE tree over plain values (strings compared case-insensitively)."""
    if node is None:
        return True
    if isinstance(node, soql.BoolOp):
        if node.op == "and":
            return all(matches(p, get) for p in node.parts)
        if node.op == "or":
            return any(matches(p, get) for p in node.parts)
        return not matches(node.parts[0], get)
    return compare(get(node.field), node.op, node.value)


def compare(actual: Any, op: str, expected: Any) -> bool:
    if isinstance(expected, DateRange):
        return expected.compare(actual, op)
    if op in ("in", "not in"):
        keys = {match_key(v) for v in expected}
        inside = match_key(actual) in keys
        return inside if op == "in" else not inside
    if op == "like":
        return isinstance(actual, str) and soql.like_matcher(str(expected))(actual)
    left, right = match_key(actual), match_key(expected)
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        if op == "<":
            return bool(left < right)
        if op == "<=":
            return bool(left <= right)
        if op == ">":
            return bool(left > right)
        return bool(left >= right)
    except TypeError:
        return False


class QueryEvaluator:
    """Resolve a parsed SOQL query against the data: field names, index use, filter, order."""

    RELATIONS = {
        "account": "AccountId",
        "owner": "OwnerId",
        "who": "WhoId",
        "what": "WhatId",
        "parent": "ParentId",
    }

    def __init__(
        self, data: SalesforceData, query: soql.Query, text: str, include_deleted: bool = False
    ) -> None:
        self.data, self.query, self.text = data, query, text
        self.include_deleted = include_deleted
        obj = data.object_named(query.object_name)
        if obj is None:
            raise soql.SoqlError(
                "INVALID_TYPE",
                f"sObject type '{query.object_name}' is not "
                "supported. If you are attempting to use a custom object, be "
                "sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate "
                "names.",
                query.object_column,
            )
        self.obj = obj
        self.object_name: str = obj["name"]

    def _no_column(self, name: str, column: int) -> soql.SoqlError:
        return soql.SoqlError(
            "INVALID_FIELD",
            f"No such column '{name}' on entity '{self.object_name}'. If you are attempting to use "
            "a custom field, be sure to append the '__c' after the custom field name. Please "
            "reference your WSDL or the describe call for the appropriate names.",
            column,
        )

    def resolve(self, name: str, column: int) -> tuple[str, ...]:
        fields = self.data.visible_fields(self.object_name)  # field-level security applies
        if "." not in name:
            found = fields.get(name.lower())
            if found is None:
                raise self._no_column(name, column)
            return (found["name"],)
        relation, _, rest = name.partition(".")
        reference = self.RELATIONS.get(relation.lower())
        ref_field = fields.get(reference.lower()) if reference else None
        if ref_field is None or "." in rest:
            raise self._no_column(name, column)
        target = ref_field["referenceTo"][0]
        target_obj = self.data.objects.get(target)
        found = self.data.visible_field(target, rest) if target_obj else None
        if found is None:
            raise self._no_column(name, column)
        return (ref_field["relationshipName"], ref_field["name"], target, found["name"])

    def _getter(self, record: dict[str, Any]) -> Callable[[str], Any]:
        get = self._getter_of(record)
        return lambda name: get(self.paths[name])

    def _normalize_literals(self, node: soql.Condition | soql.BoolOp | None) -> None:
        for leaf in soql.conditions(node):
            path = self.resolve(leaf.field, leaf.column)
            self.paths[leaf.field] = path
            target_obj = self.obj if len(path) == 1 else self.data.objects[path[2]]
            found = target_obj["fields"][path[-1].lower()]
            values = leaf.value if isinstance(leaf.value, list) else [leaf.value]
            normalized = [self._literal(found, v, leaf.column) for v in values]
            leaf.value = normalized if isinstance(leaf.value, list) else normalized[0]

    def _literal(self, found: Field, value: Any, column: int) -> Any:
        if value is None:
            return None
        if isinstance(value, soql.RelativeDate):
            if value.name != "LAST_N_DAYS":
                raise soql.SoqlError(
                    "MALFORMED_QUERY", f"unexpected token: '{value.name}:{value.n}'", column
                )
            if found["type"] not in ("date", "datetime"):
                raise soql.SoqlError(
                    "INVALID_FIELD",
                    f"value of filter criterion for field '{found['name']}' must be of type "
                    f"{found['type']} and should not be enclosed in quotes",
                    column,
                )
            return DateRange.of(value, dt.datetime.now(dt.UTC).date())
        if found["type"] in ("id", "reference"):
            text = str(value)
            if not ids.is_well_formed(text):
                raise soql.SoqlError(
                    "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {text}", column
                )
            return ids.normalize(text)
        if found["type"] == "datetime" and isinstance(value, str):
            try:
                return coerce(found, value)
            except (JsonTypeError, FieldError):
                return value
        if found["type"] in ("double", "currency", "percent") and isinstance(value, int):
            return float(value)
        return value

    def _candidates(self, node: soql.Condition | soql.BoolOp | None) -> set[str] | None:
        if node is None:
            return None
        if isinstance(node, soql.Condition):
            path = self.paths[node.field]
            if len(path) != 1 or node.op not in ("=", "in"):
                return None
            values = node.value if node.op == "in" else [node.value]
            if path[0] == "Id":
                store = self.data.rows(self.object_name, self.include_deleted)
                return {v for v in values if v in store}
            if (self.object_name, path[0]) not in self.data.indexes:
                return None
            found: set[str] = set()
            for value in values:
                if value is not None:
                    found |= self.data.lookup(self.object_name, path[0], value)
            return found
        if node.op == "and":
            known = [c for c in (self._candidates(p) for p in node.parts) if c is not None]
            return min(known, key=len) if known else None
        if node.op == "or":
            parts = [self._candidates(p) for p in node.parts]
            if any(p is None for p in parts):
                return None
            return set().union(*[p for p in parts if p is not None])
        return None

    @property
    def aggregated(self) -> bool:
        return bool(self.query.aggregates or self.query.group_by)

    def _check_grouping(self) -> None:
        grouped = {self.resolve(name, column) for name, column in self.query.group_by}
        for name, column in self.query.fields:
            if self.resolve(name, column) not in grouped:
                raise soql.SoqlError(
                    "MALFORMED_QUERY", f"Field must be grouped or aggregated: {name}", column
                )
        for aggregate in self.query.aggregates:
            path = self.resolve(aggregate.field, aggregate.column)
            found = self._field_of(path)
            if aggregate.function in ("sum", "avg") and found["type"] not in (
                "double", "currency", "percent", "int"
            ):  # fmt: skip
                raise soql.SoqlError(
                    "INVALID_FIELD",
                    f"field {aggregate.field} does not support aggregate operator "
                    f"{aggregate.function.upper()}",
                    aggregate.column,
                )
        if self.query.order_by or self.query.offset:
            raise soql.SoqlError(
                "MALFORMED_QUERY",
                "the sandbox answers aggregate queries without ORDER BY and OFFSET",
                self.query.object_column,
            )

    def _field_of(self, path: tuple[str, ...]) -> Field:
        target_obj = self.obj if len(path) == 1 else self.data.objects[path[2]]
        found: Field = target_obj["fields"][path[-1].lower()]
        return found

    def aggregate(self, matched: list[str]) -> list[dict[str, Any]]:
        """One AggregateResult row per group of the matched records. In a multi-currency
        org, currency values come back in the corporate currency (SOQL and SOSL Reference,
        "convertCurrency()": aggregate functions with GROUP BY answer in the org's default
        currency)."""
        store = self.data.rows(self.object_name, self.include_deleted)
        group_paths = [(name, self.resolve(name, column)) for name, column in self.query.group_by]
        groups: dict[tuple[Any, ...], list[str]] = {}
        for rid in matched:
            get = self._getter_of(store[rid])
            key = tuple(match_key(get(path)) for _, path in group_paths)
            groups.setdefault(key, []).append(rid)
        if not self.query.group_by and not groups:
            groups[()] = []
        rates = self.data.conversion_rates() if self.data.multi_currency else {}
        rows = []
        for rids in groups.values():
            records = [store[rid] for rid in rids]
            row: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
            for _, path in group_paths:
                row[path[-1]] = self._getter_of(records[0])(path) if records else None
            for aggregate in self.query.aggregates:
                path = self.resolve(aggregate.field, aggregate.column)
                converted = rates and self._field_of(path)["type"] == "currency"
                values = []
                for record in records:
                    value = self._getter_of(record)(path)
                    if value is not None and converted:
                        rate = rates.get(record.get("CurrencyIsoCode") or "", 1.0)
                        value = float(Decimal(str(value)) / Decimal(str(rate)))
                    if value is not None:
                        values.append(value)
                row[aggregate.alias] = _aggregate(aggregate.function, values)
            rows.append(row)
        if len(rows) > AGGREGATE_ROWS:
            raise soql.SoqlError(
                "EXCEEDED_ID_LIMIT",
                "Aggregate query does not support queryMore(), use LIMIT to restrict the "
                "results to a single batch",
                self.query.object_column,
            )
        return rows

    def _getter_of(self, record: dict[str, Any]) -> Callable[[tuple[str, ...]], Any]:
        def get(path: tuple[str, ...]) -> Any:
            if len(path) == 1:
                return record.get(path[0])
            parent_id = record.get(path[1])
            parent = self.data.records.get(path[2], {}).get(parent_id) if parent_id else None
            return None if parent is None else parent.get(path[3])

        return get

    def run(self) -> tuple[list[tuple[str, ...]], list[str]]:
        self.paths: dict[str, tuple[str, ...]] = {}
        if self.aggregated:
            self._check_grouping()
        select = [self.resolve(name, column) for name, column in self.query.fields]
        self._normalize_literals(self.query.where)
        order = []
        for name, descending, nulls_last, column in self.query.order_by:
            self.paths[name] = self.resolve(name, column)
            order.append((name, descending, nulls_last))
        store = self.data.rows(self.object_name, self.include_deleted)
        candidates = self._candidates(self.query.where)
        pool: Iterable[str] = (
            store.keys()
            if candidates is None
            else (rid for rid in store if rid in candidates)
            if candidates and len(candidates) > len(store) // 4
            else sorted(candidates or (), key=lambda rid: rid)
        )
        matched = [rid for rid in pool if matches(self.query.where, self._getter(store[rid]))]
        for name, descending, nulls_last in reversed(order):
            present = [r for r in matched if self._getter(store[r])(name) is not None]
            absent = [r for r in matched if self._getter(store[r])(name) is None]
            present.sort(
                key=lambda r, n=name: match_key(self._getter(store[r])(n)),  # type: ignore[misc]
                reverse=descending,
            )
            matched = present + absent if nulls_last else absent + present
        matched = matched[self.query.offset :]
        if self.query.limit is not None:
            matched = matched[: self.query.limit]
        return select, matched


def _aggregate(function: str, values: list[Any]) -> Any:
    """SUM / COUNT / COUNT_DISTINCT / MIN / MAX / AVG over the non-null values, as the REST API
    returns them (a number, or null for SUM, MIN, MAX, AVG of nothing)."""
    if function == "count":
        return len(values)
    if function == "count_distinct":
        return len({match_key(v) for v in values})
    if not values:
        return None
    if function == "min":
        return min(values, key=match_key)
    if function == "max":
        return max(values, key=match_key)
    total = sum((Decimal(str(v)) for v in values), Decimal(0))
    if function == "avg":
        total /= len(values)
    return float(round(total, 6))
