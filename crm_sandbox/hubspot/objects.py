"""CRM objects one at a time (``/crm/v3/objects/<type>``): list a page, read by id or by a
unique property (``idProperty``), create (with associations), update and archive."""

from __future__ import annotations

from typing import Any

from crm_sandbox.hubspot.calls import Call
from crm_sandbox.hubspot.errors import InputError, hs_error
from crm_sandbox.hubspot.schema import ALIASES, SINGULAR
from crm_sandbox.replies import Reply
from crm_sandbox.routing import Routes

OBJECTS = "/crm/v3/objects/<object_type>"

routes = Routes()


def find_or_404(call: Call, object_type: str, object_id: str, *, reading: bool = False) -> str:
    """The record id the path names, by id or by the ``idProperty`` query parameter; a read
    of an id merged away finds the merged record (``HubSpotData.find_for_read``), a write
    does not (HubSpot documents only reads following a merge)."""
    id_property = call.request.args.get("idProperty")
    if id_property and id_property not in call.data.properties[object_type]:
        raise hs_error(400, "VALIDATION_ERROR", f'Property "{id_property}" does not exist')
    find = call.data.find_for_read if reading else call.data.find
    rid = find(object_type, id_property, object_id)
    if rid is None:
        raise hs_error(
            404,
            "OBJECT_NOT_FOUND",
            "Object not found.  objectId are usually numeric.",
            context={"id": [object_id]},
        )
    return rid


def with_associations(
    call: Call, object_type: str, rid: str, rendered: dict[str, Any]
) -> dict[str, Any]:
    """``rendered`` with the ``associations`` the ``associations=`` query parameter asks for,
    as the v3 objects read and list give them."""
    wanted = [
        ALIASES.get(a.lower())
        for raw in call.request.args.getlist("associations")
        for a in raw.split(",")
        if a
    ]
    if wanted:
        singular = SINGULAR[object_type].lower()
        rendered["associations"] = {
            to_type: {
                "results": [
                    {"id": to_id, "type": f"{singular}_to_{SINGULAR[to_type].lower()}"}
                    for to_id in call.data.associated(object_type, rid, to_type)
                ]
            }
            for to_type in wanted
            if to_type
        }
    return rendered


@routes.get(f"{OBJECTS}/<object_id>", "{object_type}.get")
def get(call: Call, object_type: str, object_id: str) -> Reply:
    rid = find_or_404(call, object_type, object_id, reading=True)
    record = call.data.records[object_type][rid]
    return Reply(
        200,
        with_associations(call, object_type, rid, call.render(object_type, record, call.wanted())),
    )


@routes.get(OBJECTS, "{object_type}.list_page")
def list_page(call: Call, object_type: str) -> Reply:
    limit = min(int(call.request.args.get("limit", 10) or 10), 100)
    after = int(call.request.args.get("after", 0) or 0)
    records = call.data.records[object_type]
    ordered = sorted(records, key=int)
    chunk = [rid for rid in ordered if int(rid) > after][:limit]
    body: dict[str, Any] = {
        "results": [
            with_associations(
                call, object_type, rid, call.render(object_type, records[rid], call.wanted())
            )
            for rid in chunk
        ]
    }
    if chunk and int(chunk[-1]) < int(ordered[-1]):
        body["paging"] = {"next": {"after": chunk[-1]}}
    return Reply(200, body)


@routes.post(OBJECTS, "{object_type}.create")
def create(call: Call, object_type: str) -> Reply:
    body = call.json_object()
    try:
        values = call.data.check(object_type, body.get("properties") or {}, None)
        links = call.data.check_associations(object_type, body.get("associations"))
    except InputError as exc:
        raise exc.http() from None
    record = call.data.create(object_type, values, links)
    return Reply(201, call.render_written(object_type, record, values))


@routes.post(f"{OBJECTS}/merge", "{object_type}.merge")
def merge(call: Call, object_type: str) -> Reply:
    """``POST /crm/v3/objects/{objectType}/merge`` with ``primaryObjectId`` and
    ``objectIdToMerge``: a new record with a new id (developers.hubspot.com/docs/
    api-reference/crm-contacts-v3/basic/post-crm-v3-objects-contacts-merge; the changelog
    "Updated merge functionality for contacts and companies")."""
    if object_type not in ("contacts", "companies"):
        raise hs_error(400, "VALIDATION_ERROR", f"{object_type} cannot be merged here")
    body = call.json_object()
    primary, other = str(body.get("primaryObjectId", "")), str(body.get("objectIdToMerge", ""))
    if not primary or not other:
        raise hs_error(400, "VALIDATION_ERROR", "primaryObjectId and objectIdToMerge are required")
    if primary == other:
        raise hs_error(400, "VALIDATION_ERROR", "Cannot merge an object with itself")
    for rid in (primary, other):
        find_or_404(call, object_type, rid)
    record = call.data.merge(object_type, primary, other)
    return Reply(200, call.render(object_type, record, None))


@routes.patch(f"{OBJECTS}/<object_id>", "{object_type}.update")
def update(call: Call, object_type: str, object_id: str) -> Reply:
    rid = find_or_404(call, object_type, object_id)
    body = call.json_object()
    try:
        values = call.data.check(object_type, body.get("properties") or {}, rid)
    except InputError as exc:
        raise exc.http() from None
    record = call.data.update(object_type, rid, values)
    return Reply(200, call.render_written(object_type, record, values))


@routes.delete(f"{OBJECTS}/<object_id>", "{object_type}.archive")
def archive(call: Call, object_type: str, object_id: str) -> Reply:
    call.data.archive(object_type, object_id)
    return Reply(204)
