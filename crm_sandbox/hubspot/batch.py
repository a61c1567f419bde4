"""CRM objects in batches of up to 100 (``/crm/v3/objects/<type>/batch/...``): read, create,
update, upsert by a unique property, archive. Every input is checked before any is applied:
with an ``objectWriteTraceId`` on every input the good ones are applied and the bad ones
reported per input (207 Multi-Status); without, one bad input refuses the whole batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from crm_sandbox.hubspot.calls import Call, batch_inputs, batch_reply
from crm_sandbox.hubspot.errors import InputError, hs_error
from crm_sandbox.hubspot.schema import SINGULAR, now_iso
from crm_sandbox.replies import Reply
from crm_sandbox.routing import Routes

BATCH = "/crm/v3/objects/<object_type>/batch"

routes = Routes()
T = TypeVar("T")


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


def _traced(inputs: list[dict[str, Any]]) -> bool:
    """Whether every input carries an ``objectWriteTraceId``: only then does HubSpot answer
    per input (207 Multi-Status); otherwise one bad input refuses the whole batch
    (developers.hubspot.com/docs/api-reference/error-handling, "Multi-status errors")."""
    return bool(inputs) and all(i.get("objectWriteTraceId") for i in inputs)


def _refused(item: dict[str, Any], exc: InputError) -> InputError:
    """One input's error, naming the input's trace id as HubSpot's per-input errors do."""
    trace_id = item.get("objectWriteTraceId")
    if trace_id:
        exc.context = {**exc.context, "objectWriteTraceId": [str(trace_id)]}
    return exc


def _checked(
    inputs: list[dict[str, Any]], check: Callable[[dict[str, Any]], T]
) -> tuple[list[tuple[dict[str, Any], T]], list[InputError]]:
    """Every input checked before any is applied: the good ones with what ``check`` made of
    them, and the errors. Untraced inputs with an error refuse the whole batch, nothing
    applied."""
    good, errors = [], []
    for item in inputs:
        try:
            good.append((item, check(item)))
        except InputError as exc:
            errors.append(_refused(item, exc))
    if errors and not _traced(inputs):
        raise errors[0].http()
    return good, errors


def _written(
    call: Call,
    object_type: str,
    record: dict[str, Any],
    values: dict[str, str | None],
    item: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    trace_id = item.get("objectWriteTraceId")
    extra = {**(extra or {}), **({"objectWriteTraceId": trace_id} if trace_id else {})}
    return call.render_written(object_type, record, values, extra or None)


@routes.post(f"{BATCH}/create", "{object_type}.batch_create")
def create(call: Call, object_type: str) -> Reply:
    started = now_iso()

    def check(item: dict[str, Any]) -> tuple[dict[str, str | None], Any]:
        values = call.data.check(object_type, item.get("properties") or {}, None)
        return values, call.data.check_associations(object_type, item.get("associations"))

    good, errors = _checked(batch_inputs(call.json_object()), check)
    results = []
    for item, (values, links) in good:
        record = call.data.create(object_type, values, links)
        results.append(_written(call, object_type, record, values, item))
    return batch_reply(results, errors, started, ok_status=201)


@routes.post(f"{BATCH}/update", "{object_type}.batch_update")
def update(call: Call, object_type: str) -> Reply:
    started = now_iso()
    inputs = batch_inputs(call.json_object())
    _no_duplicates([str(i.get("id", "")) for i in inputs])

    def check(item: dict[str, Any]) -> tuple[str, dict[str, str | None]]:
        key = str(item.get("id", ""))
        id_property = item.get("idProperty")
        if id_property and id_property not in call.data.properties[object_type]:
            raise InputError(
                "VALIDATION_ERROR", f'Property "{id_property}" does not exist', {"ids": [key]}
            )
        rid = call.data.find(object_type, id_property, key)
        if rid is None:
            raise _missing(object_type, key)
        try:
            return rid, call.data.check(object_type, item.get("properties") or {}, rid)
        except InputError as exc:
            exc.context = {"ids": [key], **exc.context}
            raise

    good, errors = _checked(inputs, check)
    results = []
    for item, (rid, values) in good:
        record = call.data.update(object_type, rid, values)
        results.append(_written(call, object_type, record, values, item))
    return batch_reply(results, errors, started)


@routes.post(f"{BATCH}/upsert", "{object_type}.batch_upsert")
def upsert(call: Call, object_type: str) -> Reply:
    started = now_iso()
    inputs = batch_inputs(call.json_object())
    _no_duplicates([str(i.get("id", "")).lower() for i in inputs])
    for item in inputs:
        id_property = item.get("idProperty") or "hs_object_id"
        prop = call.data.properties[object_type].get(id_property)
        if prop is None or not prop["hasUniqueValue"]:
            raise hs_error(
                400,
                "VALIDATION_ERROR",
                f"Property {id_property} is not a unique "
                "identifier property and cannot be used as idProperty",
            )

    def check(item: dict[str, Any]) -> tuple[str | None, dict[str, str | None]]:
        key = str(item.get("id", ""))
        id_property = item.get("idProperty") or "hs_object_id"
        try:
            rid = call.data.find(object_type, id_property, key)
            props = dict(item.get("properties") or {})
            if rid is None:
                if id_property == "hs_object_id":
                    raise _missing(object_type, key)
                props.setdefault(id_property, key)
            return rid, call.data.check(object_type, props, rid)
        except InputError as exc:
            if not exc.context:
                exc.context = {"ids": [key]}
            raise

    good, errors = _checked(inputs, check)
    results = []
    for item, (rid, values) in good:
        if rid is None:
            record = call.data.create(object_type, values)
        else:
            record = call.data.update(object_type, rid, values)
        results.append(_written(call, object_type, record, values, item, {"new": rid is None}))
    return batch_reply(results, errors, started)


@routes.post(f"{BATCH}/archive", "{object_type}.batch_archive")
def archive(call: Call, object_type: str) -> Reply:
    for item in batch_inputs(call.json_object()):
        call.data.archive(object_type, str(item.get("id", "")))
    return Reply(204)
