"""sObject Collections (``/composite/sobjects``): up to 200 records created, updated, upserted
by an external id, read or deleted in one call, with ``allOrNone``.

A write validates every record first: a value of the wrong JSON type fails the whole call, a
field error fails only its row (or, with allOrNone, rolls back all). Rows are then applied in
order, each answering ``{"id", "success", "errors"}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm_sandbox import ids
from crm_sandbox.replies import HttpError, Reply
from crm_sandbox.routing import Routes
from crm_sandbox.salesforce.calls import API, Call
from crm_sandbox.salesforce.data import SalesforceData
from crm_sandbox.salesforce.errors import UnknownFieldError, failure, lock_error, sf_error
from crm_sandbox.salesforce.schema import FieldError, JsonTypeError

MAX_COLLECTION = 200
COLLECTIONS = f"{API}/composite/sobjects"
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was "
    "using AllOrNone header",
    "fields": [],
}
TOO_MANY = f"record limit reached. cannot submit more than {MAX_COLLECTION} records into this call"

Apply = Callable[[], dict[str, Any]]
Plan = Callable[[dict[str, Any]], tuple[str, Apply]]  # record -> (its id or "", apply it)

routes = Routes()


def _records(call: Call) -> tuple[bool, list[dict[str, Any]]]:
    body = call.json_object()
    records = body.get("records")
    if not isinstance(records, list):
        raise sf_error(400, "INVALID_FIELD", "records: must not be null", ["records"])
    if len(records) > MAX_COLLECTION:
        raise sf_error(400, "EXCEEDED_ID_LIMIT", TOO_MANY)
    return bool(body.get("allOrNone", False)), records


def _write(call: Call, plan: Plan) -> Reply:
    """Validate every record first (type errors fail the whole call), then apply."""
    all_or_none, records = _records(call)
    planned: list[tuple[str, Apply] | dict[str, Any]] = []
    for record in records:
        if not isinstance(record, dict):
            raise sf_error(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of SObject")
        try:
            planned.append(plan(record))
        except UnknownFieldError as exc:
            raise exc.http() from None
        except JsonTypeError as exc:
            raise sf_error(400, "JSON_PARSER_ERROR", str(exc)) from None
        except FieldError as exc:
            planned.append(failure(exc))
        except HttpError:
            raise
    if call.lock_fault:
        return Reply(
            200,
            [failure(lock_error(p[0] if isinstance(p, tuple) else None)) for p in planned],
        )
    if all_or_none and any(isinstance(p, dict) for p in planned):
        return Reply(
            200,
            [
                p
                if isinstance(p, dict)
                else {"id": p[0] or None, "success": False, "errors": [ROLLED_BACK]}
                for p in planned
            ],
        )
    results = []
    for item in planned:
        if isinstance(item, dict):
            results.append(item)
            continue
        try:
            results.append(item[1]())
        except FieldError as exc:
            results.append(failure(exc))
    return Reply(200, results)


def _record_type(data: SalesforceData, record: dict[str, Any]) -> str:
    attributes = record.get("attributes")
    if not isinstance(attributes, dict) or not attributes.get("type"):
        raise FieldError("INVALID_TYPE", "Must send a concrete entity type.", [])
    found = data.object_named(str(attributes["type"]))
    if found is None:
        raise FieldError(
            "INVALID_TYPE", f"sObject type '{attributes['type']}' is not supported.", []
        )
    return str(found["name"])


@routes.post(COLLECTIONS, "composite_sobjects.post", writes=True)
def create(call: Call) -> Reply:
    data = call.data

    def plan(record: dict[str, Any]) -> tuple[str, Apply]:
        name = _record_type(data, record)
        body = {k: v for k, v in record.items() if k.lower() != "id"}
        if any(k.lower() == "id" and v for k, v in record.items()):
            raise FieldError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        values = data.prepare(name, body, creating=True)
        return "", lambda: {"id": data.insert(name, values), "success": True, "errors": []}

    return _write(call, plan)


@routes.patch(COLLECTIONS, "composite_sobjects.patch", writes=True)
def update(call: Call) -> Reply:
    data = call.data

    def plan(record: dict[str, Any]) -> tuple[str, Apply]:
        name = _record_type(data, record)
        raw_id = next((v for k, v in record.items() if k.lower() == "id"), None)
        body = {k: v for k, v in record.items() if k.lower() != "id"}
        rid = data.row_id(name, raw_id)
        values = data.prepare(name, body, creating=False)

        def apply() -> dict[str, Any]:
            if rid not in data.records[name]:
                raise FieldError("ENTITY_IS_DELETED", "entity is deleted", [])
            data.update(name, rid, values)
            return {"id": rid, "success": True, "errors": []}

        return rid, apply

    return _write(call, plan)


@routes.patch(f"{COLLECTIONS}/<obj>/<ext>", "composite_sobjects_upsert.patch", writes=True)
def upsert(call: Call, obj: str, ext: str) -> Reply:
    data = call.data
    name = data.require_object(obj)["name"]
    found = data.visible_field(name, ext)
    if found is None or not (found["externalId"] or found["name"] == "Id"):
        raise sf_error(
            400,
            "INVALID_FIELD",
            f"Field name provided, {ext} is not an External ID or indexed field for {name}",
        )
    field_name = found["name"]

    def plan(record: dict[str, Any]) -> tuple[str, Apply]:
        record_type = _record_type(data, record)
        if record_type != name:
            raise FieldError("INVALID_TYPE", f"Record type {record_type} does not match {name}", [])
        key = next((v for k, v in record.items() if k.lower() == field_name.lower()), None)
        if key in (None, ""):
            raise FieldError("MISSING_ARGUMENT", f"{field_name} not specified", [field_name])
        body = {k: v for k, v in record.items() if k.lower() != "id" or field_name != "Id"}
        # validate against both shapes now; the branch is chosen when applied
        update_values = data.prepare(
            name,
            {k: v for k, v in body.items() if k.lower() != field_name.lower()},
            creating=False,
        )
        create_values = data.prepare(name, body, creating=True) if field_name != "Id" else {}

        def apply() -> dict[str, Any]:
            hits = (
                data.lookup(name, field_name, key)
                if field_name != "Id"
                else (
                    {ids.normalize(str(key))} & set(data.records[name])
                    if ids.is_well_formed(str(key))
                    else set()
                )
            )
            if len(hits) > 1:
                raise FieldError(
                    "DUPLICATE_EXTERNAL_ID",
                    f"{field_name}: more than one "
                    f"record found for external id field: {sorted(hits)}",
                    [field_name],
                )
            if hits:
                rid = next(iter(hits))
                data.update(name, rid, update_values)
                return {"id": rid, "success": True, "errors": [], "created": False}
            if field_name == "Id":
                raise FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
            rid = data.insert(name, create_values)
            return {"id": rid, "success": True, "errors": [], "created": True}

        return "", apply

    return _write(call, plan)


@routes.add(f"{COLLECTIONS}/<obj>", ("GET", "POST"), "composite_sobjects.get")
def read(call: Call, obj: str) -> Reply:
    data = call.data
    name = data.require_object(obj)["name"]
    if call.request.method == "POST":
        body = call.json_object()
        raw_ids, wanted = body.get("ids") or [], body.get("fields") or []
    else:
        raw_ids = [i for i in call.request.args.get("ids", "").split(",") if i]
        wanted = [f for f in call.request.args.get("fields", "").split(",") if f]
    if len(raw_ids) > 2000:
        raise sf_error(400, "EXCEEDED_ID_LIMIT", "too many ids")
    fields = data.visible_fields(name)
    names = []
    for raw in wanted:
        found = fields.get(str(raw).lower())
        if found is None:
            raise UnknownFieldError(name, str(raw)).http()
        names.append(found["name"])
    out: list[dict[str, Any] | None] = []
    for raw in raw_ids:
        rid = ids.normalize(raw) if ids.is_well_formed(raw) else raw
        record = data.records[name].get(rid)
        out.append(None if record is None else call.render(name, record, names))
    return Reply(200, out)


@routes.delete(COLLECTIONS, "composite_sobjects.delete", writes=True)
def delete(call: Call) -> Reply:
    data = call.data
    raw_ids = [i for i in call.request.args.get("ids", "").split(",") if i]
    if len(raw_ids) > MAX_COLLECTION:
        raise sf_error(400, "EXCEEDED_ID_LIMIT", TOO_MANY)
    results = []
    for raw in raw_ids:
        owner = ids.OBJECT_BY_PREFIX.get(raw[:3], "")
        rid = ids.normalize(raw) if ids.is_well_formed(raw) else ""
        if call.lock_fault:
            results.append(failure(lock_error(rid)))
        elif not rid:
            results.append(failure(FieldError("MALFORMED_ID", f"malformed id {raw}", [])))
        elif rid not in data.records.get(owner, {}):
            results.append(failure(FieldError("ENTITY_IS_DELETED", "entity is deleted", [])))
        else:
            data.delete(owner, rid)
            results.append({"id": rid, "success": True, "errors": []})
    return Reply(200, results)
