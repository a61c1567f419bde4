"""Properties and property groups (``/crm/v3/properties/<type>``): list, read, create,
change and archive custom properties; HubSpot-defined ones keep their type and cannot be
archived. ``cx360 install`` creates its properties and group through here."""

from __future__ import annotations

from typing import Any

from crm_sandbox.hubspot.calls import Call
from crm_sandbox.hubspot.errors import hs_error
from crm_sandbox.hubspot.schema import SINGULAR, make_property, now_iso, validate_definition
from crm_sandbox.replies import Reply
from crm_sandbox.routing import Routes

PROPS = "/crm/v3/properties/<object_type>"
GROUPS = f"{PROPS}/groups"

routes = Routes()


@routes.get(PROPS, "properties.list")
def list_properties(call: Call, object_type: str) -> Reply:
    archived = call.request.args.get("archived", "false").lower() == "true"
    return Reply(
        200,
        {
            "results": [
                p for p in call.data.properties[object_type].values() if p["archived"] == archived
            ]
        },
    )


def _property(call: Call, object_type: str, name: str) -> dict[str, Any]:
    prop = call.data.properties[object_type].get(name)
    if prop is None or prop["archived"]:
        raise hs_error(
            404,
            "OBJECT_NOT_FOUND",
            f"Unable to find property with name {name} for objectType {SINGULAR[object_type]}",
        )
    return prop


@routes.get(f"{PROPS}/<name>", "properties.get")
def get_property(call: Call, object_type: str, name: str) -> Reply:
    return Reply(200, _property(call, object_type, name))


@routes.post(PROPS, "properties.create")
def create_property(call: Call, object_type: str) -> Reply:
    body = call.json_object()
    name = str(body.get("name") or "")
    existing = call.data.properties[object_type].get(name)
    if existing is not None:
        # (unconfirmed) the real API answers 409 with category OBJECT_ALREADY_EXISTS. An
        # archived property keeps its name (it is in the recycling bin: developers.hubspot.com
        # /docs/api-reference/latest/crm/properties/delete-property; the v3 API has no
        # restore): the docs are silent on a create over it, so it is refused (strict).
        archived = " (archived)" if existing["archived"] else ""
        raise hs_error(
            409,
            "OBJECT_ALREADY_EXISTS",
            f"A property named '{name}' already exists for objectType "
            f"{SINGULAR[object_type]}{archived}",
            sub_category="Properties.OBJECT_ALREADY_EXISTS",
        )
    problems = validate_definition(body, call.data.groups[object_type], object_type)
    if problems:
        raise hs_error(
            400,
            "VALIDATION_ERROR",
            "; ".join(problems),
            errors=[{"message": p} for p in problems],
        )
    prop = make_property(
        name,
        str(body["label"]),
        str(body["type"]),
        str(body["fieldType"]),
        str(body["groupName"]),
        options=[(str(o["label"]), str(o["value"])) for o in body.get("options") or []],
        unique=bool(body.get("hasUniqueValue", False)),
        hubspot_defined=False,
        description=str(body.get("description") or ""),
    )
    if body.get("displayOrder") is not None:
        prop["displayOrder"] = int(body["displayOrder"])
    call.data.properties[object_type][name] = prop
    if prop["hasUniqueValue"]:
        call.data.unique[(object_type, name)] = {}
    return Reply(201, prop)


@routes.patch(f"{PROPS}/<name>", "properties.update")
def update_property(call: Call, object_type: str, name: str) -> Reply:
    prop = _property(call, object_type, name)
    body = call.json_object()
    if prop["hubspotDefined"] and set(body) - {"label", "description", "displayOrder"}:
        raise hs_error(
            400,
            "VALIDATION_ERROR",
            f"Property {name} is a HubSpot defined "
            "property; only label and description can be changed",
        )
    candidate = {**prop, **{k: v for k, v in body.items() if k != "name"}}
    problems = validate_definition(candidate, call.data.groups[object_type], object_type)
    if problems:
        raise hs_error(400, "VALIDATION_ERROR", "; ".join(problems))
    if "options" in body:
        candidate["options"] = [
            {
                "label": str(o["label"]),
                "value": str(o["value"]),
                "displayOrder": int(o.get("displayOrder", i)),
                "hidden": bool(o.get("hidden", False)),
            }
            for i, o in enumerate(body["options"] or [])
        ]
    candidate["updatedAt"] = now_iso()
    call.data.properties[object_type][name] = candidate
    return Reply(200, candidate)


@routes.delete(f"{PROPS}/<name>", "properties.archive")
def archive_property(call: Call, object_type: str, name: str) -> Reply:
    prop = _property(call, object_type, name)
    if prop["hubspotDefined"]:
        raise hs_error(
            400,
            "VALIDATION_ERROR",
            f"Property {name} is HubSpot defined and cannot be archived",
        )
    prop["archived"] = True
    return Reply(204)


@routes.get(GROUPS, "property_groups.list")
def list_groups(call: Call, object_type: str) -> Reply:
    return Reply(200, {"results": list(call.data.groups[object_type].values())})


def _group(call: Call, object_type: str, name: str) -> dict[str, Any]:
    group = call.data.groups[object_type].get(name)
    if group is None:
        raise hs_error(
            404,
            "OBJECT_NOT_FOUND",
            f"Unable to find property group {name} for objectType {SINGULAR[object_type]}",
        )
    return group


@routes.get(f"{GROUPS}/<name>", "property_groups.get")
def get_group(call: Call, object_type: str, name: str) -> Reply:
    return Reply(200, _group(call, object_type, name))


@routes.post(GROUPS, "property_groups.create")
def create_group(call: Call, object_type: str) -> Reply:
    body = call.json_object()
    name, label = str(body.get("name") or ""), str(body.get("label") or "")
    if not name or not label:
        raise hs_error(400, "VALIDATION_ERROR", "name and label are required")
    if name in call.data.groups[object_type]:
        raise hs_error(
            409,
            "OBJECT_ALREADY_EXISTS",
            f"A property group named '{name}' "
            f"already exists for objectType {SINGULAR[object_type]}",
        )
    group = {
        "name": name,
        "label": label,
        "displayOrder": int(body.get("displayOrder", -1)),
        "archived": False,
    }
    call.data.groups[object_type][name] = group
    return Reply(201, group)


@routes.patch(f"{GROUPS}/<name>", "property_groups.update")
def update_group(call: Call, object_type: str, name: str) -> Reply:
    group = _group(call, object_type, name)
    body = call.json_object()
    for key in ("label", "displayOrder"):
        if key in body:
            group[key] = body[key]
    return Reply(200, group)
