"""Associations v4: link two records with HubSpot-defined types (the default one, or labelled
ones such as Primary), list and remove links, one pair at a time or in batches.

Each link is kept in both directions (``HubSpotData.associate``), each side with its own type
id (contact-to-company 279, company-to-contact 280; Primary 1 and 2).
"""

from __future__ import annotations

from typing import Any

from crm_sandbox.hubspot.calls import Call, batch_inputs, batch_reply
from crm_sandbox.hubspot.data import link_types
from crm_sandbox.hubspot.errors import InputError, hs_error
from crm_sandbox.hubspot.schema import ASSOCIATION_TYPES, OBJECT_TYPE_IDS, SINGULAR, now_iso
from crm_sandbox.replies import Reply
from crm_sandbox.routing import Routes

PAIR = "/crm/v4/objects/<object_type>/<object_id>/associations"
BATCH = "/crm/v4/associations/<object_type>/<to_type>/batch"
PRIMARY = {1, 2, 5, 6}
#: Batch read takes at most 1,000 ids (developers.hubspot.com/changelog/
#: bug-fix-batch-read-limit-for-hubspot-associations-api).
MAX_READ_INPUTS = 1000

routes = Routes()


def _default_type(object_type: str, to_type: str) -> int:
    type_id = ASSOCIATION_TYPES.get((object_type, to_type))
    if type_id is None:
        raise hs_error(
            400, "VALIDATION_ERROR", f"No default association from {object_type} to {to_type}"
        )
    return type_id


def _existing(call: Call, object_type: str, object_id: str) -> None:
    if str(object_id) not in call.data.records[object_type]:
        raise hs_error(
            404,
            "OBJECT_NOT_FOUND",
            f"No {SINGULAR[object_type]} with id {object_id}",
            context={"id": [str(object_id)]},
        )


def _missing(
    call: Call, object_type: str, from_id: str, to_type: str, to_id: str
) -> InputError | None:
    """A batch input's error when either end of the link does not exist."""
    records = call.data.records
    missing = [i for t, i in ((object_type, from_id), (to_type, to_id)) if i not in records[t]]
    if not missing:
        return None
    return InputError("OBJECT_NOT_FOUND", f"Objects not found: {missing}", {"ids": missing})


def _default_link(from_id: str, to_id: str, type_id: int) -> dict[str, Any]:
    return {
        "from": {"id": from_id},
        "to": {"id": to_id},
        "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id},
    }


def _labelled_link(
    object_type: str, from_id: str, to_type: str, to_id: str, type_ids: list[int]
) -> dict[str, Any]:
    return {
        "fromObjectTypeId": OBJECT_TYPE_IDS[object_type],
        "fromObjectId": int(from_id),
        "toObjectTypeId": OBJECT_TYPE_IDS[to_type],
        "toObjectId": int(to_id),
        "labels": ["Primary"] if set(type_ids) & PRIMARY else [],
    }


def _linked(call: Call, object_type: str, object_id: str, to_type: str) -> list[dict[str, Any]]:
    """The records ``object_id`` is linked to, by id, each with its association types."""
    linked = sorted(
        call.data.associated(object_type, object_id, to_type).items(),
        key=lambda item: int(item[0]),
    )
    return [
        {
            "toObjectId": int(to_id),
            "associationTypes": [
                {
                    "category": "HUBSPOT_DEFINED",
                    "typeId": t,
                    "label": "Primary" if t in PRIMARY else None,
                }
                for t in sorted(types)
            ],
        }
        for to_id, types in linked
    ]


# ----------------------------------------------------------------------------- one pair
@routes.put(f"{PAIR}/default/<to_type>/<to_id>", "associations.put_default")
def put_default(call: Call, object_type: str, object_id: str, to_type: str, to_id: str) -> Reply:
    type_id = _default_type(object_type, to_type)
    _existing(call, object_type, object_id)
    _existing(call, to_type, to_id)
    call.data.associate(object_type, object_id, to_type, to_id, [type_id])
    started = now_iso()
    return batch_reply([_default_link(object_id, to_id, type_id)], [], started)


@routes.put(f"{PAIR}/<to_type>/<to_id>", "associations.put_labels")
def put_labels(call: Call, object_type: str, object_id: str, to_type: str, to_id: str) -> Reply:
    try:
        specs = call.request.get_json(force=True)
    except Exception:
        raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1") from None
    allowed = link_types(object_type, to_type)
    type_ids = [int(s.get("associationTypeId", 0)) for s in specs or [] if isinstance(s, dict)]
    if not type_ids or any(t not in allowed for t in type_ids):
        raise hs_error(
            400,
            "VALIDATION_ERROR",
            f"invalid association type ids {type_ids} from {object_type} to {to_type}",
        )
    _existing(call, object_type, object_id)
    _existing(call, to_type, to_id)
    call.data.associate(object_type, object_id, to_type, to_id, type_ids)
    return Reply(201, _labelled_link(object_type, object_id, to_type, to_id, type_ids))


@routes.delete(f"{PAIR}/<to_type>/<to_id>", "associations.delete")
def delete(call: Call, object_type: str, object_id: str, to_type: str, to_id: str) -> Reply:
    call.data.dissociate(object_type, object_id, to_type, to_id)
    return Reply(204)


@routes.get(f"{PAIR}/<to_type>", "associations.list")
def list_links(call: Call, object_type: str, object_id: str, to_type: str) -> Reply:
    _existing(call, object_type, object_id)
    limit = min(int(call.request.args.get("limit", 500) or 500), 500)
    after = int(call.request.args.get("after", 0) or 0)
    linked = _linked(call, object_type, object_id, to_type)
    body: dict[str, Any] = {"results": linked[after : after + limit]}
    if after + limit < len(linked):
        body["paging"] = {"next": {"after": str(after + limit)}}
    return Reply(200, body)


# ------------------------------------------------------------------------------ batches
@routes.post(f"{BATCH}/associate/default", "associations.batch_associate_default")
def batch_associate_default(call: Call, object_type: str, to_type: str) -> Reply:
    started = now_iso()
    type_id = _default_type(object_type, to_type)
    results, errors = [], []
    for item in batch_inputs(call.json_object()):
        from_id = str((item.get("from") or {}).get("id", ""))
        to_id = str((item.get("to") or {}).get("id", ""))
        missing = _missing(call, object_type, from_id, to_type, to_id)
        if missing is not None:
            errors.append(missing)
            continue
        call.data.associate(object_type, from_id, to_type, to_id, [type_id])
        results.append(_default_link(from_id, to_id, type_id))
    return batch_reply(results, errors, started)


@routes.post(f"{BATCH}/create", "associations.batch_create")
def batch_create(call: Call, object_type: str, to_type: str) -> Reply:
    started = now_iso()
    allowed = link_types(object_type, to_type)
    results, errors = [], []
    for item in batch_inputs(call.json_object()):
        from_id = str((item.get("from") or {}).get("id", ""))
        to_id = str((item.get("to") or {}).get("id", ""))
        type_ids = [int(t.get("associationTypeId", 0)) for t in item.get("types") or []]
        missing = _missing(call, object_type, from_id, to_type, to_id)
        if missing is not None:
            errors.append(missing)
            continue
        if not type_ids or any(t not in allowed for t in type_ids):
            errors.append(
                InputError(
                    "VALIDATION_ERROR",
                    f"invalid association type ids {type_ids}",
                    {"ids": [from_id]},
                )
            )
            continue
        call.data.associate(object_type, from_id, to_type, to_id, type_ids)
        results.append(_labelled_link(object_type, from_id, to_type, to_id, type_ids))
    return batch_reply(results, errors, started, ok_status=201)


@routes.post(f"{BATCH}/read", "associations.batch_read")
def batch_read(call: Call, object_type: str, to_type: str) -> Reply:
    started = now_iso()
    results, errors = [], []
    for item in batch_inputs(call.json_object(), limit=MAX_READ_INPUTS):
        from_id = str(item.get("id", ""))
        if from_id not in call.data.records[object_type]:
            errors.append(
                InputError(
                    "OBJECT_NOT_FOUND",
                    f"No {SINGULAR[object_type]} with id {from_id}",
                    {"ids": [from_id]},
                )
            )
            continue
        results.append(
            {"from": {"id": from_id}, "to": _linked(call, object_type, from_id, to_type)}
        )
    return batch_reply(results, errors, started)


@routes.post(f"{BATCH}/archive", "associations.batch_archive")
def batch_archive(call: Call, object_type: str, to_type: str) -> Reply:
    for item in batch_inputs(call.json_object()):
        from_id = str((item.get("from") or {}).get("id", ""))
        for target in item.get("to") or []:
            call.data.dissociate(object_type, from_id, to_type, str(target.get("id", "")))
    return Reply(204)
