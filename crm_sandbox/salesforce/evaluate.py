"""SOQL evaluated over the org's records: a parsed query's field names resolved (with one
parent relationship, e.g. ``Account.Name``), indexes used where the WHERE clause allows, then
filter, order, offset and limit, as Salesforce answers them. The parser is ``soql.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from crm_sandbox import ids
from crm_sandbox.salesforce import soql
from crm_sandbox.salesforce.data import SalesforceData, match_key
from crm_sandbox.salesforce.schema import Field, FieldError, JsonTypeError, coerce


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
        fields = self.obj["fields"]
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
        found = target_obj["fields"].get(rest.lower()) if target_obj else None
        if found is None:
            raise self._no_column(name, column)
        return (ref_field["relationshipName"], ref_field["name"], target, found["name"])

    def _getter(self, record: dict[str, Any]) -> Callable[[str], Any]:
        def get(name: str) -> Any:
            path = self.paths[name]
            if len(path) == 1:
                return record.get(path[0])
            parent_id = record.get(path[1])
            parent = self.data.records.get(path[2], {}).get(parent_id) if parent_id else None
            return None if parent is None else parent.get(path[3])

        return get

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

    def run(self) -> tuple[list[tuple[str, ...]], list[str]]:
        self.paths: dict[str, tuple[str, ...]] = {}
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
