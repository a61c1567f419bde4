"""The Salesforce org's data: objects and their fields, records with typed values (as
Salesforce stores them), the indexes a connector looks records up by, Bulk API 2.0 jobs and
open query locators. Every surface module works on it under the sandbox's one data lock.
"""

from __future__ import annotations

from collections import ChainMap, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from crm_sandbox import ids
from crm_sandbox.salesforce.errors import UnknownFieldError, not_found
from crm_sandbox.salesforce.schema import (
    STAGES,
    Field,
    FieldError,
    coerce,
    currency_iso_code_field,
    currency_type_fields,
    now_datetime,
    standard_objects,
    standard_objects_of,
)
from crm_sandbox.signin import SALESFORCE_ORG_ID

#: The org's currency until an admin turns on multiple currencies (``enable_currencies``).
DEFAULT_CURRENCY = "EUR"

INDEXED_STANDARD = frozenset({"email", "accountid", "username", "whoid", "whatid", "parentid"})


@dataclass
class Locator:
    """Where a SOQL query that did not fit one page goes on (``nextRecordsUrl``)."""

    object_name: str
    select: list[tuple[str, ...]]
    ids: list[str]
    position: int
    batch: int


@dataclass
class BulkJob:
    """A Bulk API 2.0 ingest job: its settings, the uploaded CSV and the per-row results."""

    id: str
    object_name: str
    operation: str
    external_id_field: str | None
    column_delimiter: str
    line_ending: str
    created: str
    state: str = "Open"
    uploads: list[str] = field(default_factory=list)
    successful: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    error_message: str | None = None
    processing_ms: int = 0
    modified: str = ""


class SalesforceData:
    """Objects, fields and records of the Salesforce org."""

    def __init__(self) -> None:
        self.ids = ids.SalesforceIds()
        self.objects: dict[str, dict[str, Any]] = {}
        self.records: dict[str, dict[str, dict[str, Any]]] = {}
        self.deleted: set[str] = set()
        #: The recycle bin: deleted records (``IsDeleted`` true, ``MasterRecordId`` after a
        #: merge), which only ``queryAll`` returns.
        self.recycled: dict[str, dict[str, dict[str, Any]]] = {}
        self.indexes: dict[tuple[str, str], dict[Any, set[str]]] = {}
        self.custom_fields: dict[str, str] = {}  # "Contact.X__c" -> 00N id
        self.field_metadata: dict[str, dict[str, Any]] = {}  # 00N id -> Tooling Metadata
        self.jobs: dict[str, BulkJob] = {}
        self.locators: OrderedDict[str, Locator] = OrderedDict()
        self.default_owner = ""
        self._security_generation = 0
        self._grants: tuple[tuple[int, int], frozenset[str], dict[str, str]] = (
            (-1, -1), frozenset(), {})  # fmt: skip
        self._visible: dict[str, dict[str, Field]] = {}
        self.clear()

    def clear(self) -> None:
        self.objects = standard_objects()
        self.records = {name: {} for name in self.objects}
        self.deleted = set()
        self.recycled = {}
        self.custom_fields = {}
        self.field_metadata = {}
        self.jobs = {}
        self.locators = OrderedDict()
        self._security_generation += 1
        stamp = now_datetime()
        self.records["Organization"][SALESFORCE_ORG_ID] = {
            "Id": SALESFORCE_ORG_ID,
            "IsDeleted": False,
            "Name": "cx360 Sandbox",
            "DefaultCurrencyIsoCode": DEFAULT_CURRENCY,
            "CreatedDate": stamp,
            "LastModifiedDate": stamp,
            "SystemModstamp": stamp,
        }
        self._reindex()

    @property
    def multi_currency(self) -> bool:
        return "CurrencyType" in self.objects

    def corporate_currency(self) -> str:
        org = self.records["Organization"][SALESFORCE_ORG_ID]
        return str(org["DefaultCurrencyIsoCode"])

    def conversion_rates(self) -> dict[str, float]:
        """Active currency -> units per one unit of the corporate currency."""
        return {
            row["IsoCode"]: float(row["ConversionRate"])
            for row in self.records.get("CurrencyType", {}).values()
            if row.get("IsActive")
        }

    def enable_currencies(self, corporate: str, rates: dict[str, float]) -> None:
        """Turn on multiple currencies as an admin does: records get ``CurrencyIsoCode``
        (existing ones the corporate currency) and ``CurrencyType`` lists the currencies with
        their conversion rates to the corporate one (which is 1.0)."""
        if self.multi_currency:
            raise ValueError("multiple currencies are already enabled (it cannot be undone)")
        codes = {corporate: 1.0, **{c: float(r) for c, r in rates.items() if c != corporate}}
        self.objects.update(
            standard_objects_of("CurrencyType", "Currency Type", "Currency Types",
                                currency_type_fields())
        )  # fmt: skip
        self.records["CurrencyType"] = {}
        for code, rate in codes.items():
            self.insert(
                "CurrencyType",
                {"IsoCode": code, "ConversionRate": rate, "DecimalPlaces": 2, "IsActive": True,
                 "IsCorporate": code == corporate},
            )  # fmt: skip
        field_ = currency_iso_code_field()
        field_["picklistValues"] = [
            {"active": True, "defaultValue": c == corporate, "label": c, "value": c} for c in codes
        ]
        field_["defaultValue"], field_["defaultedOnCreate"] = corporate, True
        for object_name in ("Account", "Opportunity"):
            self.objects[object_name]["fields"]["currencyisocode"] = dict(field_)
            self.schema_changed()
            for record in self.records[object_name].values():
                record["CurrencyIsoCode"] = corporate
        self.records["Organization"][SALESFORCE_ORG_ID]["DefaultCurrencyIsoCode"] = corporate

    # --------------------------------------------------------------- persistence
    def dump(self) -> dict[str, Any]:
        return {
            "objects": self.objects,
            "records": self.records,
            "deleted": sorted(self.deleted),
            "recycled": self.recycled,
            "custom_fields": self.custom_fields,
            "field_metadata": self.field_metadata,
            "next_id": self.ids.peek(),
            "default_owner": self.default_owner,
        }

    def load(self, data: dict[str, Any]) -> None:
        self.objects = data["objects"]
        self.records = data["records"]
        self.deleted = set(data.get("deleted", []))
        self.recycled = data.get("recycled", {})
        self.custom_fields = data.get("custom_fields", {})
        self.field_metadata = data.get("field_metadata", {})
        self.ids = ids.SalesforceIds(int(data.get("next_id", 1)))
        self.default_owner = data.get("default_owner", "")
        self.jobs, self.locators = {}, OrderedDict()
        self._security_generation += 1
        self._reindex()

    # ------------------------------------------------------------------- schema
    def object_named(self, name: str) -> dict[str, Any] | None:
        found = self.objects.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        return next((o for n, o in self.objects.items() if n.lower() == lowered), None)

    def require_object(self, name: str) -> dict[str, Any]:
        found = self.object_named(name)
        if found is None:
            raise not_found()
        return found

    def _indexed(self, obj: dict[str, Any]) -> list[str]:
        return [
            f["name"]
            for key, f in obj["fields"].items()
            if key in INDEXED_STANDARD or f["externalId"] or f["unique"]
        ]

    def _reindex(self) -> None:
        self.indexes = {}
        for name, obj in self.objects.items():
            for field_name in self._indexed(obj):
                index: dict[Any, set[str]] = {}
                for rid, record in self.records.get(name, {}).items():
                    value = record.get(field_name)
                    if value is not None:
                        index.setdefault(match_key(value), set()).add(rid)
                self.indexes[(name, field_name)] = index

    def add_field(self, object_name: str, new_field: Field) -> None:
        obj = self.objects[object_name]
        obj["fields"][new_field["name"].lower()] = new_field
        self.schema_changed()
        if new_field["externalId"] or new_field["unique"]:
            self.indexes[(object_name, new_field["name"])] = {}
        default = new_field["defaultValue"]
        if default is not None:
            for record in self.records[object_name].values():
                record.setdefault(new_field["name"], default)

    def remove_field(self, object_name: str, field_name: str) -> None:
        """A custom field deleted: gone from describe, its values from every record."""
        removed = self.objects[object_name]["fields"].pop(field_name.lower())
        self.schema_changed()
        self.indexes.pop((object_name, removed["name"]), None)
        for record in self.records[object_name].values():
            record.pop(removed["name"], None)

    # ------------------------------------------------------- field-level security
    def field_access(self, object_name: str, field_name: str) -> str:
        """What the integration user (the connected app's run-as user, ``default_owner``) may
        do with a field: ``edit``, ``read`` or ``none``.

        A custom field created through the Tooling API (or Metadata API) grants no access to
        anyone: it is missing from describe, from SOQL and from writes until a permission set
        (or profile) with FieldPermissions on it is assigned to the user ("Field-Level
        Security", help.salesforce.com/s/articleView?id=sf.admin_fls.htm; "FieldPermissions"
        and "PermissionSetAssignment", Object Reference). Standard fields, and custom fields
        the sandbox starts with, are the user's profile's to read and edit.
        """
        key = f"{object_name}.{field_name}".lower()
        tooling, grants = self._security()
        return grants.get(key, "none") if key in tooling else "edit"

    def schema_changed(self) -> None:
        """A field was added, changed or removed: what the user sees is worked out again."""
        self._security_generation += 1

    def _security(self) -> tuple[frozenset[str], dict[str, str]]:
        """The Tooling-made fields ("contact.x__c") and field -> ``read`` / ``edit`` through
        the permission sets assigned to the integration user; kept until a permission
        record or a field changes."""
        key = (self._security_generation, len(self.custom_fields))
        if self._grants[0] == key:
            return self._grants[1], self._grants[2]
        assigned = {
            row.get("PermissionSetId")
            for row in self.records.get("PermissionSetAssignment", {}).values()
            if row.get("AssigneeId") == self.default_owner
        }
        grants: dict[str, str] = {}
        for row in self.records.get("FieldPermissions", {}).values():
            if row.get("ParentId") not in assigned:
                continue
            field_key = str(row.get("Field") or "").lower()
            if row.get("PermissionsEdit"):
                grants[field_key] = "edit"
            elif row.get("PermissionsRead") and grants.get(field_key) != "edit":
                grants[field_key] = "read"
        tooling = frozenset(full.lower() for full in self.custom_fields)
        self._grants = (key, tooling, grants)
        self._visible = {}
        return tooling, grants

    def visible_field(self, object_name: str, name: str) -> Field | None:
        """The field as the integration user sees it: None when field-level security hides
        it, read-only (not createable, not updateable) when it grants read alone."""
        found = self.objects[object_name]["fields"].get(name.lower())
        if found is None:
            return None
        access = self.field_access(object_name, found["name"])
        if access == "none":
            return None
        if access == "read":
            return cast(Field, {**found, "createable": False, "updateable": False})
        return found

    def visible_fields(self, object_name: str) -> dict[str, Field]:
        """The object's fields the integration user sees, by lower-case name."""
        self._security()  # drops the views below when anything changed
        view = self._visible.get(object_name)
        if view is None:
            view = {
                key: seen
                for key in self.objects[object_name]["fields"]
                if (seen := self.visible_field(object_name, key)) is not None
            }
            self._visible[object_name] = view
        return view

    # ------------------------------------------------------------------ records
    def lookup(self, object_name: str, field_name: str, value: Any) -> set[str]:
        index = self.indexes.get((object_name, field_name))
        if index is not None:
            return set(index.get(match_key(value), ()))
        return {
            rid
            for rid, record in self.records[object_name].items()
            if match_key(record.get(field_name)) == match_key(value)
        }

    def exists(self, record_id: str) -> bool:
        owner = ids.OBJECT_BY_PREFIX.get(record_id[:3])
        return owner is not None and record_id in self.records.get(owner, {})

    def row_id(self, object_name: str, raw_id: Any) -> str:
        """The stored id a write row (sObject Collections, a Bulk CSV line) names, or the
        FieldError Salesforce answers for that row."""
        if not raw_id or not isinstance(raw_id, str):
            raise FieldError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        if not ids.is_well_formed(raw_id):
            raise FieldError("MALFORMED_ID", f"malformed id {raw_id}", ["Id"])
        rid = ids.normalize(raw_id)
        if rid[:3] != self.objects[object_name]["keyPrefix"]:
            raise FieldError(
                "MALFORMED_ID", f"{object_name} ID: id value of incorrect type: {raw_id}", ["Id"]
            )
        if rid in self.deleted:
            raise FieldError("ENTITY_IS_DELETED", "entity is deleted", [])
        if rid not in self.records[object_name]:
            raise FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        return rid

    def prepare(
        self, object_name: str, body: dict[str, Any], *, creating: bool, from_csv: bool = False
    ) -> dict[str, Any]:
        """Typed values for a write; raises UnknownFieldError, JsonTypeError or FieldError."""
        obj = self.objects[object_name]
        if creating and not obj.get("createable", True):
            raise FieldError("INVALID_TYPE", f"entity type cannot be inserted: {object_name}", [])
        fields = self.visible_fields(object_name)
        values: dict[str, Any] = {}
        for key, raw in body.items():
            if key == "attributes":
                continue
            found = fields.get(key.lower())
            if found is None:  # unknown, or hidden by field-level security
                raise UnknownFieldError(object_name, key)
            values[found["name"]] = raw
        for name in values:
            found = fields[name.lower()]
            allowed = found["createable"] if creating else found["updateable"]
            if not allowed:
                raise FieldError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {name}. Please check the security settings "
                    "of this field and verify that it is read/write for your profile or "
                    "permission set.",
                    [name],
                )
        typed: dict[str, Any] = {}
        for name, raw in values.items():
            found = fields[name.lower()]
            if raw is None and not found["nillable"]:
                raise FieldError(
                    "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", [name]
                )
            typed[name] = coerce(found, raw, from_csv=from_csv)
            if found["type"] == "reference" and typed[name] is not None:
                target = ids.OBJECT_BY_PREFIX.get(typed[name][:3])
                if target in self.records and not self.exists(typed[name]):
                    raise FieldError(
                        "INVALID_CROSS_REFERENCE_KEY",
                        f"invalid cross reference id: {typed[name]}",
                        [name],
                    )
                if name == "OwnerId" and target == "User":
                    user = self.records["User"].get(typed[name]) or {}
                    if user.get("IsActive") is False:
                        raise FieldError(
                            "INACTIVE_OWNER_OR_USER",
                            f"operation performed with inactive user [{typed[name]}] as owner "
                            f"of {object_name.lower()}",
                            [name],
                        )
        if creating and object_name == "PermissionSetAssignment":
            self._refuse_duplicate_assignment(typed)
        if creating and object_name == "FieldPermissions" and typed.get("PermissionsEdit") \
                and not typed.get("PermissionsRead"):  # fmt: skip
            # Object Reference, FieldPermissions: "PermissionsEdit ... Requires PermissionsRead"
            raise FieldError(
                "FIELD_INTEGRITY_EXCEPTION",
                "Permission Edit depends on permission(s): Read",
                ["PermissionsEdit"],
            )
        if creating:
            missing = [
                f["name"]
                for f in fields.values()
                if not f["nillable"]
                and f["createable"]
                and not f["defaultedOnCreate"]
                and typed.get(f["name"]) is None
            ]
            if missing:
                raise FieldError(
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    missing,
                )
        return typed

    def insert(self, object_name: str, values: dict[str, Any]) -> str:
        obj = self.objects[object_name]
        rid = self.ids.new(object_name)
        stamp = now_datetime()
        record: dict[str, Any] = {"Id": rid}
        for f in obj["fields"].values():
            if f["defaultValue"] is not None:
                record[f["name"]] = f["defaultValue"]
        if "ownerid" in obj["fields"]:
            record["OwnerId"] = self.default_owner or None
        record.update({k: v for k, v in values.items() if v is not None})
        record.update(
            {
                "IsDeleted": False,
                "CreatedDate": stamp,
                "LastModifiedDate": stamp,
                "SystemModstamp": stamp,
            }
        )
        self._derive(object_name, record)
        self.records[object_name][rid] = record
        self._index(object_name, rid, None, record)
        self._security_changed(object_name)
        return rid

    def update(self, object_name: str, rid: str, values: dict[str, Any]) -> None:
        old = self.records[object_name][rid]
        new = dict(old)
        for key, value in values.items():
            if value is None:
                new.pop(key, None)
            else:
                new[key] = value
        stamp = now_datetime()
        new["LastModifiedDate"] = new["SystemModstamp"] = stamp
        self._derive(object_name, new)
        self.records[object_name][rid] = new
        self._index(object_name, rid, old, new)
        self._security_changed(object_name)

    def delete(self, object_name: str, rid: str, master_id: str | None = None) -> None:
        old = self.records[object_name].pop(rid)
        self._security_changed(object_name)
        self.deleted.add(rid)
        self._index(object_name, rid, old, None)
        binned = {**old, "IsDeleted": True, "SystemModstamp": now_datetime()}
        if master_id:
            binned["MasterRecordId"] = master_id
        self.recycled.setdefault(object_name, {})[rid] = binned

    def _refuse_duplicate_assignment(self, typed: dict[str, Any]) -> None:
        """A permission set is assigned to a user once: a second assignment is refused."""
        pair = (typed.get("AssigneeId"), typed.get("PermissionSetId"))
        for row in self.records["PermissionSetAssignment"].values():
            if (row.get("AssigneeId"), row.get("PermissionSetId")) == pair:
                raise FieldError(
                    "DUPLICATE_VALUE",
                    f"Duplicate PermissionSetAssignment. Assignee: {pair[0]}; Permission Set: "
                    f"{pair[1]}",
                    [],
                )

    def _security_changed(self, object_name: str) -> None:
        if object_name in ("FieldPermissions", "PermissionSetAssignment"):
            self._security_generation += 1

    def merge(self, object_name: str, master_id: str, loser_id: str) -> None:
        """Merge ``loser_id`` into ``master_id`` as Salesforce does: the master keeps its
        values, the loser's related records move to the master, and the loser is deleted
        with ``MasterRecordId`` naming the master."""
        for rid in (master_id, loser_id):
            if rid not in self.records.get(object_name, {}):
                raise FieldError("INVALID_CROSS_REFERENCE_KEY", f"no {object_name} {rid}", [])
        if master_id == loser_id:
            raise FieldError("INVALID_ID_FIELD", "cannot merge a record with itself", [])
        for child_object, rows in self.records.items():
            references = [
                f["name"]
                for f in self.objects[child_object]["fields"].values()
                if f["type"] == "reference" and object_name in (f["referenceTo"] or [])
            ]
            for child_id, row in list(rows.items()):
                moved = {name: master_id for name in references if row.get(name) == loser_id}
                if moved and child_id != loser_id:
                    self.update(child_object, child_id, moved)
        self.delete(object_name, loser_id, master_id=master_id)

    def rows(self, object_name: str, include_deleted: bool = False) -> Mapping[str, Any]:
        """The live records of an object; with ``include_deleted`` (``queryAll``) the
        recycle bin's as well."""
        live = self.records[object_name]
        if not include_deleted:
            return live
        return ChainMap(live, self.recycled.get(object_name, {}))

    def _derive(self, object_name: str, record: dict[str, Any]) -> None:
        if object_name in ("Contact", "User"):
            parts = [record.get("FirstName"), record.get("LastName")]
            record["Name"] = " ".join(p for p in parts if p)
        if object_name == "Task":
            record["IsClosed"] = record.get("Status") == "Completed"
        if object_name == "Opportunity":
            record["IsClosed"], record["IsWon"] = STAGES.get(record.get("StageName", ""), (0, 0))
            record["IsClosed"], record["IsWon"] = bool(record["IsClosed"]), bool(record["IsWon"])

    def _index(
        self,
        object_name: str,
        rid: str,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
    ) -> None:
        for (name, field_name), index in self.indexes.items():
            if name != object_name:
                continue
            before = None if old is None else old.get(field_name)
            after = None if new is None else new.get(field_name)
            if before == after:
                continue
            if before is not None:
                bucket = index.get(match_key(before))
                if bucket is not None:
                    bucket.discard(rid)
                    if not bucket:
                        del index[match_key(before)]
            if after is not None:
                index.setdefault(match_key(after), set()).add(rid)


def match_key(value: Any) -> Any:
    """How Salesforce compares values in lookups and filters: text without regard to case."""
    return value.lower() if isinstance(value, str) else value
