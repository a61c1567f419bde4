"""CRM objects in batches of up to 100 (``/crm/v3/objects/<type>/batch/...``): read, create,
update, upsert by a unique property, archive. The good inputs are applied and the bad ones
reported per input: 207 Multi-Status when any failed."""

from __future__ import annotations

from crm_sandbox.hubspot.calls import Call, batch_inputs, batch_reply
from crm_sandbox.hubspot.errors import InputError, hs_error
from crm_sandbox.hubspot.schema import SINGULAR, now_iso
from crm_sandbox.replies import Reply
from crm_sandbox.routing import Routes

BATCH = "/crm/v3/objects/<object_type>/batch"

routes = Routes()


def _no_duplicates(keys: list[str]) -> None:
    seen: set[str] = set()
    duplicates = sorted({k for k in keys if k in seen or seen.add(k)})  # type: ignore[func-returns-value]
    if duplicates:
        raise hs_error(
            400,
            "VALIDATION_ERROR",
            f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique",
        )


def _missing(object_type: str, key: str) -> InputError:
    return InputError(
        "OBJECT_NOT_FOUND",
        f"Could not find {SINGULAR[object_type]} with id {key}",
        {"ids": [key]},
        status=404,
    )


@routes.post(f"{BATCH}/read", "{object_type}.batch_read")
def read(call: Call, object_type: str) -> Reply:
    started = now_iso()
    body = call.json_object()
    inputs = batch_inputs(body)
    id_property = body.get("idProperty")
    if id_property and id_property not in call.data.properties[object_type]:
        raise hs_error(400, "VALIDATION_ERROR", f'Property "{id_property}" does not exist')
    wanted = body.get("properties") or None
    results, missing = [], []
    for item in inputs:
        key = str(item.get("id", ""))
        rid = call.data.find_for_read(object_type, id_property, key)
        if rid is None:
            missing.append(key)
        else:
            record = call.data.records[object_type][rid]
            results.append(call.render(object_type, record, wanted))
    errors = []
    if missing:
        errors.append(
            InputError(
                "OBJECT_NOT_FOUND",
                f"Could not get some {SINGULAR[object_type]} objects, they may be deleted or "
                "not exist. Check that ids are valid.",
                {"ids": missing},
            )
        )
    return batch_reply(results, errors, started)


@routes.post(f"{BATCH}/create", "{object_type}.batch_create")
def create(call: Call, object_type: str) -> Reply:
    started = now_iso()
    results, errors = [], []
    for item in batch_inputs(call.json_object()):
        trace_id = item.get("objectWriteTraceId")
        try:
            values = call.data.check(object_type, item.get("properties") or {}, None)
            links = call.data.check_associations(object_type, item.get("associations"))
        except InputError as exc:
            if trace_id:
                exc.context = {**exc.context, "objectWriteTraceId": [str(trace_id)]}
            errors.append(exc)
            continue
        record = call.data.create(object_type, values, links)
        extra = {"objectWriteTraceId": trace_id} if trace_id else None
        results.append(call.render_written(object_type, record, values, extra))
    return batch_reply(results, errors, started, ok_status=201)


@routes.post(f"{BATCH}/update", "{object_type}.batch_update")
def update(call: Call, object_type: str) -> Reply:
    started = now_iso()
    inputs = batch_inputs(call.json_object())
    _no_duplicates([str(i.get("id", "")) for i in inputs])
    results, errors = [], []
    for item in inputs:
        key = str(item.get("id", ""))
        id_property = item.get("idProperty")
        try:
            if id_property and id_property not in call.data.properties[object_type]:
                raise InputError(
                    "VALIDATION_ERROR",
                    f'Property "{id_property}" does not exist',
                    {"ids": [key]},
                )
            rid = call.data.find(object_type, id_property, key)
            if rid is None:
                raise _missing(object_type, key)
            values = call.data.check(object_type, item.get("properties") or {}, rid)
        except InputError as exc:
            errors.append(exc)
            continue
        record = call.data.update(object_type, rid, values)
        results.append(call.render_written(object_type, record, values))
    return batch_reply(results, errors, started)


@routes.post(f"{BATCH}/upsert", "{object_type}.batch_upsert")
def upsert(call: Call, object_type: str) -> Reply:
    started = now_iso()
    inputs = batch_inputs(call.json_object())
    _no_duplicates([str(i.get("id", "")).lower() for i in inputs])
    results, errors = [], []
    for item in inputs:
        key = str(item.get("id", ""))
        id_property = item.get("idProperty") or "hs_object_id"
        prop = call.data.properties[object_type].get(id_property)
        if prop is None or not prop["hasUniqueValue"]:
            raise hs_error(
                400,
                "VALIDATION_ERROR",
                f"Property {id_property} is not a unique "
                "identifier property and cannot be used as idProperty",
            )
        try:
            rid = call.data.find(object_type, id_property, key)
            props = dict(item.get("properties") or {})
            if rid is None:
                if id_property == "hs_object_id":
                    raise _missing(object_type, key)
                props.setdefault(id_property, key)
            values = call.data.check(object_type, props, rid)
        except InputError as exc:
            if not exc.context:
                exc.context = {"ids": [key]}
            errors.append(exc)
            continue
        if rid is None:
            record = call.data.create(object_type, values)
        else:
            record = call.data.update(object_type, rid, values)
        results.append(call.render_written(object_type, record, values, {"new": rid is None}))
    return batch_reply(results, errors, started)


@routes.post(f"{BATCH}/archive", "{object_type}.batch_archive")
def archive(call: Call, object_type: str) -> Reply:
    for item in batch_inputs(call.json_object()):
        call.data.archive(object_type, str(item.get("id", "")))
    return Reply(204)
