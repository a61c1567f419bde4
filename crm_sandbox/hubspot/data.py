"""The HubSpot portal's data: properties and property groups per object type, records (values
stored as strings, as HubSpot does), the indexes of unique properties, and associations.
Every surface module works on it under the sandbox's one data lock.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from crm_sandbox import ids
from crm_sandbox.hubspot.errors import InputError, error_details, validation_message
from crm_sandbox.hubspot.schema import (
    ASSOCIATION_TYPES,
    CREATED_PROPERTY,
    DEAL_STAGES,
    DEFAULT_COMPANY_CURRENCY,
    MODIFIED_PROPERTY,
    OBJECT_TYPE_IDS,
    PRIMARY_TYPES,
    SINGULAR,
    PropertyError,
    now_iso,
    standard_groups,
    standard_properties,
    validate_value,
)

REVERSE_TYPES = {
    **{t: ASSOCIATION_TYPES[(b, a)] for (a, b), t in ASSOCIATION_TYPES.items()},
    **{t: PRIMARY_TYPES[(b, a)] for (a, b), t in PRIMARY_TYPES.items()},
}
# (from, to) type id pairs the v4 API and a create's associations accept: the default
# (unlabeled) type of every pair and, where the pair has one, its primary type as well; a
# contact is linked to a company with 279 or with 1
LINK_TYPES: list[tuple[tuple[str, str], int]] = [
    *ASSOCIATION_TYPES.items(),
    *PRIMARY_TYPES.items(),
]


def link_types(from_type: str, to_type: str) -> set[int]:
    return {t for pair, t in LINK_TYPES if pair == (from_type, to_type)}


class HubSpotData:
    """Properties, groups, records and associations of the HubSpot portal."""

    def __init__(self) -> None:
        self.ids = ids.HubSpotIds()
        self.properties: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.records: dict[str, dict[str, dict[str, Any]]] = {}
        self.unique: dict[tuple[str, str], dict[str, str]] = {}
        self.associations: dict[tuple[str, str], dict[str, dict[str, set[int]]]] = {}
        self.written: dict[tuple[str, str], float] = {}
        #: Ids of records merged away -> the record they live on in (per object type).
        self.merged: dict[str, dict[str, str]] = {}
        #: The company currency and the portal's other currencies (account-info API).
        self.company_currency = DEFAULT_COMPANY_CURRENCY
        self.additional_currencies: list[str] = []
        self.clear()

    def clear(self) -> None:
        self.properties = standard_properties()
        self.groups = standard_groups()
        self.records = {name: {} for name in OBJECT_TYPE_IDS}
        self.associations = {}
        self.written = {}
        self.merged = {}
        self.company_currency = DEFAULT_COMPANY_CURRENCY
        self.additional_currencies = []
        self._reindex()

    def enable_currencies(self, company: str, rates: dict[str, float]) -> None:
        """An admin sets the company currency and adds others (HubSpot's multi-currency):
        deals then carry any of them in ``deal_currency_code``."""
        if self.additional_currencies:
            raise ValueError("HubSpot's company currency cannot change once others are added")
        self.company_currency = company
        self.additional_currencies = sorted(c for c in rates if c != company)
        codes = [company, *self.additional_currencies]
        self.properties["deals"]["deal_currency_code"]["options"] = [
            {"label": c, "value": c, "displayOrder": i, "hidden": False}
            for i, c in enumerate(codes)
        ]

    def dump(self) -> dict[str, Any]:
        return {
            "properties": self.properties,
            "groups": self.groups,
            "records": self.records,
            "associations": [
                [from_type, from_id, to_type, to_id, sorted(types)]
                for (from_type, from_id), targets in self.associations.items()
                for to_type, by_id in targets.items()
                for to_id, types in by_id.items()
            ],
            "next_id": self.ids.peek(),
            "merged": self.merged,
            "currencies": [self.company_currency, *self.additional_currencies],
        }

    def load(self, data: dict[str, Any]) -> None:
        self.properties = data["properties"]
        self.groups = data["groups"]
        self.records = data["records"]
        self.associations = {}
        for from_type, from_id, to_type, to_id, types in data.get("associations", []):
            self.associations.setdefault((from_type, from_id), {}).setdefault(to_type, {})[
                to_id
            ] = set(types)
        self.ids = ids.HubSpotIds(int(data.get("next_id", 1001)))
        self.merged = data.get("merged", {})
        currencies = data.get("currencies") or [DEFAULT_COMPANY_CURRENCY]
        self.company_currency, self.additional_currencies = currencies[0], currencies[1:]
        self.written = {}
        self._reindex()

    def _reindex(self) -> None:
        self.unique = {}
        for object_type, props in self.properties.items():
            for name, prop in props.items():
                if prop["hasUniqueValue"] and name != "hs_object_id":
                    index: dict[str, str] = {}
                    for rid, record in self.records[object_type].items():
                        value = record["properties"].get(name)
                        if value:
                            index[value.lower()] = rid
                    self.unique[(object_type, name)] = index

    # ---------------------------------------------------------------- records
    def find(self, object_type: str, id_property: str | None, value: str) -> str | None:
        if not id_property or id_property == "hs_object_id":
            return value if value in self.records[object_type] else None
        index = self.unique.get((object_type, id_property))
        if index is not None:
            return index.get(str(value).lower())
        for rid, record in self.records[object_type].items():
            if record["properties"].get(id_property) == value:
                return rid
        return None

    def find_for_read(self, object_type: str, id_property: str | None, value: str) -> str | None:
        """Like ``find``, but an id merged away leads to the record it was merged into: "both
        of the previous IDs will point to the resulting merged record, so fetching any records
        using the original IDs will return the new merged record with the new ID" (HubSpot
        developer changelog, "Updated merge functionality for contacts and companies")."""
        found = self.find(object_type, id_property, value)
        if found is not None or (id_property and id_property != "hs_object_id"):
            return found
        survivor = self.merged.get(object_type, {}).get(value)
        return survivor if survivor in self.records[object_type] else None

    def merge(self, object_type: str, primary_id: str, other_id: str) -> dict[str, Any]:
        """Merge two records into a new one with a new id (the primary's values win, the
        other's fill the gaps); both old ids point to it, and its ``hs_merged_object_ids``
        lists them. Associations of both move to the new record."""
        primary = self.records[object_type][primary_id]
        other = self.records[object_type][other_id]
        system = {"hs_object_id", CREATED_PROPERTY[object_type], MODIFIED_PROPERTY[object_type]}
        values: dict[str, str | None] = {
            k: v for k, v in {**other["properties"], **primary["properties"]}.items()
            if k not in system
        }  # fmt: skip
        earlier = [
            i
            for record in (primary, other)
            for i in str(record["properties"].get("hs_merged_object_ids") or "").split(";")
            if i
        ]
        values["hs_merged_object_ids"] = ";".join([*earlier, primary_id, other_id])
        links = [
            (to_type, to_id, sorted(types))
            for rid in (primary_id, other_id)
            for to_type, by_id in self.associations.get((object_type, rid), {}).items()
            for to_id, types in by_id.items()
        ]
        for rid in (primary_id, other_id):
            self.archive(object_type, rid)
        values.pop("associatedcompanyid", None)  # set again by the first company link
        record = self.create(object_type, values)
        for to_type, to_id, types in links:
            if to_id in self.records[to_type]:
                self.associate(object_type, record["id"], to_type, to_id, types)
        aliases = self.merged.setdefault(object_type, {})
        for old, survivor in list(aliases.items()):
            if survivor in (primary_id, other_id):
                aliases[old] = record["id"]
        aliases[primary_id] = aliases[other_id] = record["id"]
        return record

    def check(self, object_type: str, props: Any, existing: str | None) -> dict[str, str | None]:
        """Validated string values; raises InputError listing every bad property."""
        if not isinstance(props, dict):
            raise InputError("VALIDATION_ERROR", "properties must be an object")
        known = self.properties[object_type]
        values: dict[str, str | None] = {}
        problems: list[PropertyError] = []
        for name, value in props.items():
            try:
                values[name] = validate_value(known.get(name), name, value)
            except PropertyError as exc:
                problems.append(exc)
        if problems:
            raise InputError(
                "VALIDATION_ERROR",
                validation_message(problems),
                {"ids": [existing]} if existing else {},
                error_details(problems),
            )
        for (index_type, name), index in self.unique.items():
            if index_type != object_type or not values.get(name):
                continue
            holder = index.get(str(values[name]).lower())
            if holder is not None and holder != existing:
                noun = SINGULAR[object_type].capitalize()
                raise InputError(
                    "CONFLICT",
                    f"{noun} already exists. Existing ID: {holder}",
                    {"ids": [holder]},
                    status=409,
                )
        return values

    def check_associations(self, object_type: str, raw: Any) -> list[tuple[str, str, list[int]]]:
        """The ``associations`` of a create as (to type, to id, type ids); raises InputError."""
        planned = []
        for item in raw or []:
            to_id = str((item.get("to") or {}).get("id", ""))
            type_ids = [int(t.get("associationTypeId", 0)) for t in item.get("types") or []]
            pair = next(
                ((a, b) for (a, b), t in LINK_TYPES if a == object_type and t in type_ids),
                None,
            )
            if pair is None or not type_ids:
                raise InputError(
                    "VALIDATION_ERROR",
                    f"invalid association type ids {type_ids} from {object_type}",
                )
            if to_id not in self.records[pair[1]]:
                raise InputError(
                    "VALIDATION_ERROR", f"{SINGULAR[pair[1]]} {to_id} not found", {"ids": [to_id]}
                )
            planned.append((pair[1], to_id, type_ids))
        return planned

    def create(
        self,
        object_type: str,
        values: dict[str, str | None],
        links: Iterable[tuple[str, str, list[int]]] = (),
    ) -> dict[str, Any]:
        """A new record with ``values``, associated as ``links`` (see check_associations)."""
        rid = self.ids.new()
        stamp = now_iso()
        props = {k: v for k, v in values.items() if v is not None}
        props.update(
            {
                "hs_object_id": rid,
                CREATED_PROPERTY[object_type]: stamp,
                MODIFIED_PROPERTY[object_type]: stamp,
            }
        )
        _derive(object_type, props)
        record = {
            "id": rid,
            "properties": props,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
        }
        self.records[object_type][rid] = record
        self._index(object_type, rid, {}, props)
        self.written[(object_type, rid)] = time.monotonic()
        for to_type, to_id, type_ids in links:
            self.associate(object_type, rid, to_type, to_id, type_ids)
        return record

    def update(self, object_type: str, rid: str, values: dict[str, str | None]) -> dict[str, Any]:
        record = self.records[object_type][rid]
        before = dict(record["properties"])
        props = record["properties"]
        for key, value in values.items():
            if value is None:
                props.pop(key, None)
            else:
                props[key] = value
        stamp = now_iso()
        props[MODIFIED_PROPERTY[object_type]] = stamp
        _derive(object_type, props)
        record["updatedAt"] = stamp
        self._index(object_type, rid, before, props)
        self.written[(object_type, rid)] = time.monotonic()
        return record

    def archive(self, object_type: str, rid: str) -> None:
        record = self.records[object_type].pop(rid, None)
        if record is None:
            return
        self._index(object_type, rid, record["properties"], {})
        for to_type, by_id in self.associations.pop((object_type, rid), {}).items():
            for to_id in by_id:
                self.associations.get((to_type, to_id), {}).get(object_type, {}).pop(rid, None)

    def _index(
        self, object_type: str, rid: str, before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        for (index_type, name), index in self.unique.items():
            if index_type != object_type or before.get(name) == after.get(name):
                continue
            if before.get(name):
                index.pop(str(before[name]).lower(), None)
            if after.get(name):
                index[str(after[name]).lower()] = rid

    # ------------------------------------------------------------ associations
    def associate(
        self, from_type: str, from_id: str, to_type: str, to_id: str, type_ids: list[int]
    ) -> None:
        forward = self.associations.setdefault((from_type, from_id), {}).setdefault(to_type, {})
        backward = self.associations.setdefault((to_type, to_id), {}).setdefault(from_type, {})
        forward.setdefault(to_id, set()).update(type_ids)
        backward.setdefault(from_id, set()).update(REVERSE_TYPES.get(t, t) for t in type_ids)
        # HubSpot keeps a contact's first (primary) company in associatedcompanyid
        pair = {from_type: from_id, to_type: to_id}
        if {from_type, to_type} == {"contacts", "companies"}:
            contact = self.records["contacts"].get(pair["contacts"])
            if contact is not None and not contact["properties"].get("associatedcompanyid"):
                contact["properties"]["associatedcompanyid"] = pair["companies"]

    def dissociate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        self.associations.get((from_type, from_id), {}).get(to_type, {}).pop(to_id, None)
        self.associations.get((to_type, to_id), {}).get(from_type, {}).pop(from_id, None)
        pair = {from_type: from_id, to_type: to_id}
        if {from_type, to_type} == {"contacts", "companies"}:
            contact = self.records["contacts"].get(pair["contacts"])
            if (
                contact is not None
                and contact["properties"].get("associatedcompanyid") == pair["companies"]
            ):
                remaining = sorted(
                    self.associated("contacts", pair["contacts"], "companies"), key=int
                )
                if remaining:
                    contact["properties"]["associatedcompanyid"] = remaining[0]
                else:
                    contact["properties"].pop("associatedcompanyid", None)

    def associated(self, from_type: str, from_id: str, to_type: str) -> dict[str, set[int]]:
        return self.associations.get((from_type, from_id), {}).get(to_type, {})


def _derive(object_type: str, props: dict[str, Any]) -> None:
    """Calculated properties: a deal's ``hs_is_closed`` / ``hs_is_closed_won`` follow its
    stage in the pipeline."""
    if object_type == "deals":
        _, closed, won = DEAL_STAGES.get(str(props.get("dealstage") or ""), ("", False, False))
        props["hs_is_closed"] = "true" if closed else "false"
        props["hs_is_closed_won"] = "true" if won else "false"
