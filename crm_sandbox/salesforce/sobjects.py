"""sObject rows over REST: read, create, update and delete one record by id, and read,
upsert and delete by an external id field (``/sobjects/<object>/<field>/<value>``)."""

from __future__ import annotations

from typing import Any

from crm_sandbox import ids
from crm_sandbox.replies import Reply
from crm_sandbox.routing import Routes
from crm_sandbox.salesforce.calls import API, Call
from crm_sandbox.salesforce.data import SalesforceData
from crm_sandbox.salesforce.errors import UnknownFieldError, lock_error, not_found, sf_error
from crm_sandbox.salesforce.schema import FieldError, JsonTypeError

ROW = f"{API}/sobjects/<obj>/<rid>"
BY_EXTERNAL_ID = f"{API}/sobjects/<obj>/<ext>/<path:value>"

routes = Routes()


def resolve_id(data: SalesforceData, object_name: str, raw: str) -> str:
    """The stored id for a path id; MALFORMED_ID or NOT_FOUND as Salesforce answers."""
    prefix = data.objects[object_name]["keyPrefix"]
    if ids.is_well_formed(raw):
        rid = ids.normalize(raw)
        if rid[:3] != prefix:
            raise sf_error(
                400,
                "MALFORMED_ID",
                f"{object_name} ID: id value of incorrect type: {raw}",
                ["Id"],
            )
        if rid not in data.records[object_name]:
            raise not_found()
        return rid
    if len(raw) in (15, 18) and raw[:3] == prefix:
        raise sf_error(400, "MALFORMED_ID", f"malformed id {raw}", ["Id"])
    raise sf_error(
        404,
        "NOT_FOUND",
        f"Provided external ID field does not exist or is not accessible: {raw}",
    )


def field_names(call: Call, object_name: str) -> list[str]:
    """The ``fields`` query parameter's names as the object spells them (default: all)."""
    fields = call.data.visible_fields(object_name)
    wanted = call.request.args.get("fields")
    if not wanted:
        return [f["name"] for f in fields.values()]
    names = []
    for raw in wanted.split(","):
        found = fields.get(raw.strip().lower())
        if found is None:
            raise sf_error(
                400,
                "INVALID_FIELD",
                f"No such column '{raw.strip()}' on "
                f"entity '{object_name}'. If you are attempting to use a custom "
                "field, be sure to append the '__c' after the custom field name. "
                "Please reference your WSDL or the describe call for the "
                "appropriate names.",
            )
        names.append(found["name"])
    return names


def by_external_id(
    data: SalesforceData, object_name: str, ext: str, value: str
) -> tuple[str, set[str]]:
    """The external id field's name and the ids of the records holding ``value`` in it."""
    found = data.visible_field(object_name, ext)
    if found is None or not (found["externalId"] or found["idLookup"]):
        raise sf_error(
            404,
            "NOT_FOUND",
            f"Provided external ID field does not exist or is not accessible: {ext}",
        )
    if found["name"] == "Id":
        rid = ids.normalize(value) if ids.is_well_formed(value) else value
        hits = {rid} if rid in data.records[object_name] else set()
        return "Id", hits
    return found["name"], data.lookup(object_name, found["name"], value)


def path_records(data: SalesforceData, name: str, rid: str, ext: str, value: str) -> set[str]:
    """The record(s) a path names, by id or by an external id (NOT_FOUND when none)."""
    if not ext:
        return {resolve_id(data, name, rid)}
    _, hits = by_external_id(data, name, ext, value)
    if not hits:
        raise not_found()
    return hits


def multiple_choices(call: Call, name: str, hits: set[str]) -> Reply:
    """300: the external id matches more than one record; the reply lists their URLs."""
    return Reply(300, [f"/services/data/{call.version}/sobjects/{name}/{h}" for h in sorted(hits)])


def prepared(
    data: SalesforceData, name: str, body: dict[str, Any], creating: bool
) -> dict[str, Any]:
    """Typed values for one write, or the error reply Salesforce gives for the whole call."""
    try:
        return data.prepare(name, body, creating=creating)
    except UnknownFieldError as exc:
        raise exc.http() from None
    except JsonTypeError as exc:
        raise sf_error(400, "JSON_PARSER_ERROR", str(exc)) from None
    except FieldError as exc:
        raise sf_error(400, exc.code, exc.message, exc.fields) from None


def refuse_locked(rid: str | None = None) -> None:
    error = lock_error(rid)
    raise sf_error(400, error.code, error.message, [])


@routes.get(ROW, "sobject.get")
@routes.get(BY_EXTERNAL_ID, "sobject.get")
def get(call: Call, obj: str, rid: str = "", ext: str = "", value: str = "") -> Reply:
    name = call.data.require_object(obj)["name"]
    hits = path_records(call.data, name, rid, ext, value)
    if len(hits) > 1:
        return multiple_choices(call, name, hits)
    record = call.data.records[name][next(iter(hits))]
    return Reply(200, call.render(name, record, field_names(call, name)))


@routes.post(f"{API}/sobjects/<obj>", "sobject.create", writes=True)
def create(call: Call, obj: str) -> Reply:
    name = call.data.require_object(obj)["name"]
    if name == "PermissionSetAssignment" and not (
        call.controls.credentials.salesforce_assign_permission_sets
    ):  # assigning needs the "Assign Permission Sets" user permission
        raise sf_error(400, "INSUFFICIENT_ACCESS_OR_READONLY",
                       "insufficient access rights on cross-reference id", [])  # fmt: skip
    values = prepared(call.data, name, call.json_object(), creating=True)
    if call.lock_fault:
        refuse_locked()
    rid = call.data.insert(name, values)
    return Reply(201, {"id": rid, "success": True, "errors": []})


@routes.patch(ROW, "sobject.update", writes=True)
def update(call: Call, obj: str, rid: str) -> Reply:
    name = call.data.require_object(obj)["name"]
    record_id = resolve_id(call.data, name, rid)
    values = prepared(call.data, name, call.json_object(), creating=False)
    if call.lock_fault:
        refuse_locked(record_id)
    call.data.update(name, record_id, values)
    return Reply(204)


@routes.patch(BY_EXTERNAL_ID, "sobject.upsert", writes=True)
def upsert(call: Call, obj: str, ext: str, value: str) -> Reply:
    name = call.data.require_object(obj)["name"]
    field_name, hits = by_external_id(call.data, name, ext, value)
    if len(hits) > 1:
        return multiple_choices(call, name, hits)
    body = call.json_object()
    if call.lock_fault:
        refuse_locked()
    if hits:
        rid = next(iter(hits))
        call.data.update(name, rid, prepared(call.data, name, body, creating=False))
        return Reply(200, {"id": rid, "success": True, "errors": [], "created": False})
    if field_name == "Id":
        raise not_found()
    values = prepared(call.data, name, {**body, field_name: value}, creating=True)
    rid = call.data.insert(name, values)
    return Reply(201, {"id": rid, "success": True, "errors": [], "created": True})


@routes.delete(ROW, "sobject.delete", writes=True)
@routes.delete(BY_EXTERNAL_ID, "sobject.delete", writes=True)
def delete(call: Call, obj: str, rid: str = "", ext: str = "", value: str = "") -> Reply:
    name = call.data.require_object(obj)["name"]
    record_id = next(iter(path_records(call.data, name, rid, ext, value)))
    if call.lock_fault:
        refuse_locked(record_id)
    call.data.delete(name, record_id)
    return Reply(204)
