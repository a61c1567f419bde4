"""The HubSpot CRM v3/v4 surface: objects, batch, search, associations, properties, OAuth.

Values are stored and returned as strings, as HubSpot does. Batch endpoints apply the good
inputs and report the bad ones per input with 207 Multi-Status.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request

from crm_sandbox import ids
from crm_sandbox.control import Controls
from crm_sandbox.hubspot.schema import (
    ALIASES,
    ASSOCIATION_TYPES,
    CREATED_PROPERTY,
    DEFAULT_PROPERTIES,
    MODIFIED_PROPERTY,
    OBJECT_TYPE_IDS,
    PRIMARY_TYPES,
    PropertyError,
    make_property,
    now_iso,
    standard_groups,
    standard_properties,
    validate_definition,
    validate_value,
)
from crm_sandbox.replies import HttpError, Reply, correlation_id

MAX_BATCH = 100
MAX_SEARCH_LIMIT = 200
MAX_FILTER_GROUPS = 5
MAX_FILTERS = 25
TOKEN_LIFETIME = 1800
PORTAL_ID = 24_680_135
REVERSE_TYPES = {
    **{t: ASSOCIATION_TYPES[(b, a)] for (a, b), t in ASSOCIATION_TYPES.items()},
    **{t: PRIMARY_TYPES[(b, a)] for (a, b), t in PRIMARY_TYPES.items()},
}
SINGULAR = {"contacts": "CONTACT", "companies": "COMPANY", "tasks": "TASK", "notes": "NOTE"}
UNAUTHENTICATED = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


def hs_error(
    status: int,
    category: str,
    message: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    context: dict[str, list[str]] | None = None,
    sub_category: str | None = None,
) -> HttpError:
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
    }
    if sub_category:
        body["subCategory"] = sub_category
    if errors is not None:
        body["errors"] = errors
    if context is not None:
        body["context"] = context
    return HttpError(Reply(status, body))


def validation_message(problems: list[PropertyError]) -> str:
    details = [
        {
            "isValid": False,
            "message": p.message,
            "error": p.code,
            "name": p.name,
            "localizedErrorMessage": p.message,
            "portalId": PORTAL_ID,
        }
        for p in problems
    ]
    return "Property values were not valid: " + json.dumps(details, separators=(",", ":"))


def error_details(problems: list[PropertyError]) -> list[dict[str, Any]]:
    return [
        {"message": p.message, "code": p.code, "context": {"propertyName": [p.name]}}
        for p in problems
    ]


class InputError(Exception):
    """One batch input that failed; becomes a StandardError entry of a 207 reply."""

    def __init__(
        self,
        category: str,
        message: str,
        context: dict[str, list[str]] | None = None,
        errors: list[dict[str, Any]] | None = None,
        status: int = 400,
    ) -> None:
        super().__init__(message)
        self.category, self.message = category, message
        self.context, self.errors, self.status = context or {}, errors or [], status

    def standard(self) -> dict[str, Any]:
        return {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": self.context,
            "links": {},
            "errors": self.errors,
        }

    def http(self) -> HttpError:
        return hs_error(
            self.status,
            self.category,
            self.message,
            errors=self.errors,
            context=self.context or None,
        )


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
        self.clear()

    def clear(self) -> None:
        self.properties = standard_properties()
        self.groups = standard_groups()
        self.records = {name: {} for name in OBJECT_TYPE_IDS}
        self.associations = {}
        self.written = {}
        self._reindex()

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

    def create(self, object_type: str, values: dict[str, str | None]) -> dict[str, Any]:
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


def _type_spec(type_id: int) -> dict[str, Any]:
    label = "Primary" if type_id in (1, 2) else None
    return {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": label}


def _number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


class HubSpotSurface:
    def __init__(self, data: HubSpotData, controls: Controls, lock: threading.RLock) -> None:
        self.data, self.controls, self.lock = data, controls, lock
        objects = "/crm/v3/objects/<object_type>"
        props = "/crm/v3/properties/<object_type>"
        v4 = "/crm/v4/objects/<object_type>/<object_id>/associations"
        batch4 = "/crm/v4/associations/<object_type>/<to_type>/batch"
        rules = [
            ("/oauth/v1/token", "oauth.token", "POST"),
            (objects, "list_page", "GET"),
            (objects, "create", "POST"),
            (f"{objects}/search", "search", "POST"),
            (f"{objects}/batch/read", "batch_read", "POST"),
            (f"{objects}/batch/create", "batch_create", "POST"),
            (f"{objects}/batch/update", "batch_update", "POST"),
            (f"{objects}/batch/upsert", "batch_upsert", "POST"),
            (f"{objects}/batch/archive", "batch_archive", "POST"),
            (f"{objects}/<object_id>", "get", "GET"),
            (f"{objects}/<object_id>", "update", "PATCH"),
            (f"{objects}/<object_id>", "archive", "DELETE"),
            (f"{v4}/default/<to_type>/<to_id>", "associations.put_default", "PUT"),
            (f"{v4}/<to_type>/<to_id>", "associations.put_labels", "PUT"),
            (f"{v4}/<to_type>/<to_id>", "associations.delete", "DELETE"),
            (f"{v4}/<to_type>", "associations.list", "GET"),
            (f"{batch4}/associate/default", "associations.batch_associate_default", "POST"),
            (f"{batch4}/create", "associations.batch_create", "POST"),
            (f"{batch4}/read", "associations.batch_read", "POST"),
            (f"{batch4}/archive", "associations.batch_archive", "POST"),
            (f"{props}/groups", "property_groups.list", "GET"),
            (f"{props}/groups", "property_groups.create", "POST"),
            (f"{props}/groups/<name>", "property_groups.get", "GET"),
            (f"{props}/groups/<name>", "property_groups.update", "PATCH"),
            (props, "properties.list", "GET"),
            (props, "properties.create", "POST"),
            (f"{props}/<name>", "properties.get", "GET"),
            (f"{props}/<name>", "properties.update", "PATCH"),
            (f"{props}/<name>", "properties.archive", "DELETE"),
        ]
        self.url_map = Map(
            [Rule(path, endpoint=endpoint, methods=[method]) for path, endpoint, method in rules],
            strict_slashes=False,
            merge_slashes=False,
        )

    # ------------------------------------------------------------------ pipeline
    def handle(self, request: Request) -> tuple[str, Reply]:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, matched = adapter.match()
        except (NotFound, MethodNotAllowed):
            reply = Reply(404, None, content_type="text/html")
            return "hubspot.not_found", self._finish(reply)
        args = dict(matched)
        object_type = ALIASES.get(str(args.get("object_type", "")).lower())
        if "object_type" in args and object_type is None:
            reply = hs_error(
                400, "VALIDATION_ERROR", f"Unable to infer object type from: {args['object_type']}"
            ).reply
            return "hubspot.unknown_object", self._finish(reply)
        if object_type:
            args["object_type"] = object_type
        if "to_type" in args:
            to_type = ALIASES.get(str(args["to_type"]).lower())
            if to_type is None:
                reply = hs_error(
                    400, "VALIDATION_ERROR", f"Unable to infer object type from: {args['to_type']}"
                ).reply
                return "hubspot.unknown_object", self._finish(reply)
            args["to_type"] = to_type
        if endpoint.startswith(("associations.", "properties.", "property_groups.", "oauth.")):
            key = f"hubspot.{endpoint}"
        else:
            key = f"hubspot.{object_type}.{endpoint}"
        try:
            reply = self._run(request, endpoint, args)
        except HttpError as exc:
            reply = exc.reply
        return key, self._finish(reply, counted=endpoint != "oauth.token")

    def _finish(self, reply: Reply, counted: bool = True) -> Reply:
        if counted:
            for name, value in self.controls.hubspot_headers().items():
                reply.headers.setdefault(name, value)
        return reply

    def _run(self, request: Request, endpoint: str, args: dict[str, Any]) -> Reply:
        controls = self.controls
        faults = controls.faults["hubspot"]
        if faults.in_outage(time.time()):
            raise hs_error(503, "SERVICE_UNAVAILABLE", "Service Unavailable")
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        if endpoint == "oauth.token":
            return self.oauth_token(request)
        self._authenticate(request)
        violated, headers = controls.hubspot_admit()
        if violated is None and controls.take_burst("hubspot", "burst_429"):
            violated = "TEN_SECONDLY_ROLLING"
        if violated is not None:
            message = (
                "You have reached your daily limit."
                if violated == "DAILY"
                else "You have reached your ten_secondly_rolling limit."
            )
            body = {
                "status": "error",
                "message": message,
                "errorType": "RATE_LIMIT",
                "correlationId": correlation_id(),
                "policyName": violated,
                "groupName": "api-calls",
            }
            raise HttpError(Reply(429, body, headers=headers))
        if controls.roll_error("hubspot"):
            error = hs_error(faults.error_status, "INTERNAL_ERROR", "internal error")
            error.reply.headers.update(headers)
            raise error
        handler = getattr(self, endpoint.replace(".", "_"))
        with self.lock:
            reply: Reply = handler(request, **args)
        reply.headers.update(headers)
        return reply

    def _authenticate(self, request: Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        state = "invalid"
        if scheme.lower() == "bearer" and token:
            state = self.controls.check_token("hubspot", token.strip())
        if state == "expired":
            raise hs_error(
                401, "EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired."
            )
        if state != "ok":
            raise hs_error(401, "INVALID_AUTHENTICATION", UNAUTHENTICATED)

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        try:
            body = request.get_json(force=True, silent=False)
        except Exception:
            raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1") from None
        if not isinstance(body, dict):
            raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object")
        return body

    # ----------------------------------------------------------------------- OAuth
    def oauth_token(self, request: Request) -> Reply:
        form, creds = request.form, self.controls.credentials

        def refuse(status: str, message: str) -> Reply:
            return Reply(
                400, {"status": status, "message": message, "correlationId": correlation_id()}
            )

        if form.get("grant_type") != "refresh_token":
            return refuse("BAD_GRANT_TYPE", "grant_type must be refresh_token")
        if form.get("client_id") != creds.hubspot_client_id:
            return refuse("BAD_CLIENT_ID", "missing or unknown client id")
        if form.get("client_secret") != creds.hubspot_client_secret:
            return refuse("BAD_CLIENT_SECRET", "missing or invalid client secret")
        if form.get("refresh_token") != creds.hubspot_refresh_token:
            return refuse("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        token = self.controls.issue_token("hubspot", lifetime=TOKEN_LIFETIME)
        return Reply(
            200,
            {
                "token_type": "bearer",
                "refresh_token": creds.hubspot_refresh_token,
                "access_token": token,
                "expires_in": TOKEN_LIFETIME,
            },
        )

    # ---------------------------------------------------------------- rendering
    def _render(
        self,
        object_type: str,
        record: dict[str, Any],
        wanted: list[str] | None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        props = record["properties"]
        names = (
            list(DEFAULT_PROPERTIES[object_type])
            if wanted is None
            else [
                *wanted,
                "hs_object_id",
                CREATED_PROPERTY[object_type],
                MODIFIED_PROPERTY[object_type],
            ]
        )
        known = self.data.properties[object_type]
        rendered = {n: props.get(n) for n in names if n in known}
        out = {
            "id": record["id"],
            "properties": rendered,
            "createdAt": record["createdAt"],
            "updatedAt": record["updatedAt"],
            "archived": False,
        }
        if extra:
            out.update(extra)
        return out

    @staticmethod
    def _wanted(request: Request) -> list[str] | None:
        values = [v for raw in request.args.getlist("properties") for v in raw.split(",") if v]
        return values or None

    def _written_names(self, object_type: str, values: dict[str, Any]) -> list[str]:
        return [*DEFAULT_PROPERTIES[object_type], *values]

    # ------------------------------------------------------------------- objects
    def _find_or_404(self, object_type: str, object_id: str, id_property: str | None) -> str:
        if id_property and id_property not in self.data.properties[object_type]:
            raise hs_error(400, "VALIDATION_ERROR", f'Property "{id_property}" does not exist')
        rid = self.data.find(object_type, id_property, object_id)
        if rid is None:
            raise hs_error(
                404,
                "OBJECT_NOT_FOUND",
                "Object not found.  objectId are usually numeric.",
                context={"id": [object_id]},
            )
        return rid

    def get(self, request: Request, object_type: str, object_id: str) -> Reply:
        rid = self._find_or_404(object_type, object_id, request.args.get("idProperty"))
        record = self.data.records[object_type][rid]
        rendered = self._render(object_type, record, self._wanted(request))
        associations = [
            ALIASES.get(a.lower())
            for raw in request.args.getlist("associations")
            for a in raw.split(",")
            if a
        ]
        if associations:
            rendered["associations"] = {
                to_type: {
                    "results": [
                        {"id": to_id, "type": f"{object_type[:-1]}_to_{to_type[:-1]}"}
                        for to_id in self.data.associated(object_type, rid, to_type)
                    ]
                }
                for to_type in associations
                if to_type
            }
        return Reply(200, rendered)

    def list_page(self, request: Request, object_type: str) -> Reply:
        limit = min(int(request.args.get("limit", 10) or 10), 100)
        after = int(request.args.get("after", 0) or 0)
        ordered = sorted(self.data.records[object_type], key=int)
        chunk = [rid for rid in ordered if int(rid) > after][:limit]
        body: dict[str, Any] = {
            "results": [
                self._render(
                    object_type, self.data.records[object_type][rid], self._wanted(request)
                )
                for rid in chunk
            ]
        }
        if chunk and int(chunk[-1]) < int(ordered[-1]):
            body["paging"] = {"next": {"after": chunk[-1]}}
        return Reply(200, body)

    def _association_inputs(self, object_type: str, raw: Any) -> list[tuple[str, str, list[int]]]:
        planned = []
        for item in raw or []:
            to_id = str((item.get("to") or {}).get("id", ""))
            type_ids = [int(t.get("associationTypeId", 0)) for t in item.get("types") or []]
            pair = next(
                (
                    (a, b)
                    for (a, b), t in {**ASSOCIATION_TYPES, **PRIMARY_TYPES}.items()
                    if a == object_type and t in type_ids
                ),
                None,
            )
            if pair is None or not type_ids:
                raise InputError(
                    "VALIDATION_ERROR",
                    f"invalid association type ids {type_ids} from {object_type}",
                )
            if to_id not in self.data.records[pair[1]]:
                raise InputError(
                    "VALIDATION_ERROR", f"{SINGULAR[pair[1]]} {to_id} not found", {"ids": [to_id]}
                )
            planned.append((pair[1], to_id, type_ids))
        return planned

    def create(self, request: Request, object_type: str) -> Reply:
        body = self._body(request)
        try:
            values = self.data.check(object_type, body.get("properties") or {}, None)
            links = self._association_inputs(object_type, body.get("associations"))
        except InputError as exc:
            raise exc.http() from None
        record = self.data.create(object_type, values)
        for to_type, to_id, type_ids in links:
            self.data.associate(object_type, record["id"], to_type, to_id, type_ids)
        return Reply(
            201, self._render(object_type, record, self._written_names(object_type, values))
        )

    def update(self, request: Request, object_type: str, object_id: str) -> Reply:
        rid = self._find_or_404(object_type, object_id, request.args.get("idProperty"))
        body = self._body(request)
        try:
            values = self.data.check(object_type, body.get("properties") or {}, rid)
        except InputError as exc:
            raise exc.http() from None
        record = self.data.update(object_type, rid, values)
        return Reply(
            200, self._render(object_type, record, self._written_names(object_type, values))
        )

    def archive(self, request: Request, object_type: str, object_id: str) -> Reply:
        self.data.archive(object_type, object_id)
        return Reply(204)

    # --------------------------------------------------------------------- batch
    def _inputs(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise hs_error(
                400,
                "VALIDATION_ERROR",
                "inputs: must not be null",
                errors=[{"message": "must not be null", "code": "REQUIRED_FIELD", "in": "inputs"}],
            )
        if len(inputs) > MAX_BATCH:
            # (unconfirmed wording) HubSpot refuses the whole call, nothing is applied
            raise hs_error(
                400,
                "VALIDATION_ERROR",
                f"Batch input size {len(inputs)} exceeds the limit of {MAX_BATCH} inputs",
                errors=[
                    {
                        "message": f"size must be between 0 and {MAX_BATCH}",
                        "code": "INVALID_LENGTH",
                        "in": "inputs",
                    }
                ],
            )
        if not all(isinstance(i, dict) for i in inputs):
            raise hs_error(400, "VALIDATION_ERROR", "inputs: each input must be an object")
        return inputs

    @staticmethod
    def _no_duplicates(keys: list[str]) -> None:
        seen: set[str] = set()
        duplicates = sorted({k for k in keys if k in seen or seen.add(k)})  # type: ignore[func-returns-value]
        if duplicates:
            raise hs_error(
                400,
                "VALIDATION_ERROR",
                f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique",
            )

    @staticmethod
    def _batch_reply(
        results: list[dict[str, Any]], errors: list[InputError], started: str, ok_status: int = 200
    ) -> Reply:
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": now_iso(),
        }
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = [e.standard() for e in errors]
            return Reply(207, body)
        return Reply(ok_status, body)

    def batch_read(self, request: Request, object_type: str) -> Reply:
        started = now_iso()
        body = self._body(request)
        inputs = self._inputs(body)
        id_property = body.get("idProperty")
        if id_property and id_property not in self.data.properties[object_type]:
            raise hs_error(400, "VALIDATION_ERROR", f'Property "{id_property}" does not exist')
        wanted = body.get("properties") or None
        results, missing = [], []
        for item in inputs:
            key = str(item.get("id", ""))
            rid = self.data.find(object_type, id_property, key)
            if rid is None:
                missing.append(key)
            else:
                record = self.data.records[object_type][rid]
                results.append(self._render(object_type, record, wanted))
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
        return self._batch_reply(results, errors, started)

    def batch_create(self, request: Request, object_type: str) -> Reply:
        started = now_iso()
        inputs = self._inputs(self._body(request))
        results, errors = [], []
        for item in inputs:
            try:
                values = self.data.check(object_type, item.get("properties") or {}, None)
                links = self._association_inputs(object_type, item.get("associations"))
            except InputError as exc:
                if item.get("objectWriteTraceId"):
                    exc.context = {
                        **exc.context,
                        "objectWriteTraceId": [str(item["objectWriteTraceId"])],
                    }
                errors.append(exc)
                continue
            record = self.data.create(object_type, values)
            for to_type, to_id, type_ids in links:
                self.data.associate(object_type, record["id"], to_type, to_id, type_ids)
            extra = (
                {"objectWriteTraceId": item["objectWriteTraceId"]}
                if item.get("objectWriteTraceId")
                else None
            )
            results.append(
                self._render(object_type, record, self._written_names(object_type, values), extra)
            )
        return self._batch_reply(results, errors, started, ok_status=201)

    def batch_update(self, request: Request, object_type: str) -> Reply:
        started = now_iso()
        inputs = self._inputs(self._body(request))
        self._no_duplicates([str(i.get("id", "")) for i in inputs])
        results, errors = [], []
        for item in inputs:
            key = str(item.get("id", ""))
            id_property = item.get("idProperty")
            try:
                if id_property and id_property not in self.data.properties[object_type]:
                    raise InputError(
                        "VALIDATION_ERROR",
                        f'Property "{id_property}" does not exist',
                        {"ids": [key]},
                    )
                rid = self.data.find(object_type, id_property, key)
                if rid is None:
                    raise InputError(
                        "OBJECT_NOT_FOUND",
                        f"Could not find {SINGULAR[object_type]} with id {key}",
                        {"ids": [key]},
                        status=404,
                    )
                values = self.data.check(object_type, item.get("properties") or {}, rid)
            except InputError as exc:
                errors.append(exc)
                continue
            record = self.data.update(object_type, rid, values)
            results.append(
                self._render(object_type, record, self._written_names(object_type, values))
            )
        return self._batch_reply(results, errors, started)

    def batch_upsert(self, request: Request, object_type: str) -> Reply:
        started = now_iso()
        inputs = self._inputs(self._body(request))
        self._no_duplicates([str(i.get("id", "")).lower() for i in inputs])
        results, errors = [], []
        for item in inputs:
            key = str(item.get("id", ""))
            id_property = item.get("idProperty") or "hs_object_id"
            prop = self.data.properties[object_type].get(id_property)
            if prop is None or not prop["hasUniqueValue"]:
                raise hs_error(
                    400,
                    "VALIDATION_ERROR",
                    f"Property {id_property} is not a unique "
                    "identifier property and cannot be used as idProperty",
                )
            try:
                rid = self.data.find(object_type, id_property, key)
                props = dict(item.get("properties") or {})
                if rid is None:
                    if id_property == "hs_object_id":
                        raise InputError(
                            "OBJECT_NOT_FOUND",
                            f"Could not find {SINGULAR[object_type]} with id {key}",
                            {"ids": [key]},
                            status=404,
                        )
                    props.setdefault(id_property, key)
                values = self.data.check(object_type, props, rid)
            except InputError as exc:
                if not exc.context:
                    exc.context = {"ids": [key]}
                errors.append(exc)
                continue
            if rid is None:
                record = self.data.create(object_type, values)
            else:
                record = self.data.update(object_type, rid, values)
            results.append(
                self._render(
                    object_type,
                    record,
                    self._written_names(object_type, values),
                    {"new": rid is None},
                )
            )
        return self._batch_reply(results, errors, started)

    def batch_archive(self, request: Request, object_type: str) -> Reply:
        for item in self._inputs(self._body(request)):
            self.data.archive(object_type, str(item.get("id", "")))
        return Reply(204)

    # -------------------------------------------------------------------- search
    def search(self, request: Request, object_type: str) -> Reply:
        body = self._body(request)
        limit = int(body.get("limit") or 10)
        if not 0 < limit <= MAX_SEARCH_LIMIT:
            raise hs_error(
                400, "VALIDATION_ERROR", f"limit must be between 1 and {MAX_SEARCH_LIMIT}"
            )
        groups = body.get("filterGroups") or []
        filters_total = sum(len(g.get("filters") or []) for g in groups)
        if len(groups) > MAX_FILTER_GROUPS or filters_total > MAX_FILTERS:
            raise hs_error(
                400,
                "VALIDATION_ERROR",
                f"Too many filters: at most "
                f"{MAX_FILTER_GROUPS} filterGroups and {MAX_FILTERS} filters",
            )
        known = self.data.properties[object_type]
        predicates: list[list[Callable[[dict[str, str]], bool]]] = []
        for group in groups:
            compiled = []
            for spec in group.get("filters") or []:
                name = spec.get("propertyName")
                if name not in known:
                    raise hs_error(400, "VALIDATION_ERROR", f'Property "{name}" does not exist')
                compiled.append(self._filter(known[name], spec))
            predicates.append(compiled)
        text = str(body.get("query") or "").lower()
        delay = self.controls.faults["hubspot"].search_delay_ms / 1000
        now = time.monotonic()
        matched = []
        for rid, record in self.data.records[object_type].items():
            if delay and now - self.data.written.get((object_type, rid), 0.0) < delay:
                continue
            props = record["properties"]
            if predicates and not any(all(p(props) for p in group) for group in predicates):
                continue
            if text and not any(text in str(v).lower() for v in props.values()):
                continue
            matched.append(record)
        matched.sort(key=lambda r: int(r["id"]))
        for sort in reversed(body.get("sorts") or []):
            name = sort.get("propertyName") if isinstance(sort, dict) else str(sort).lstrip("-")
            descending = (
                (sort.get("direction") == "DESCENDING")
                if isinstance(sort, dict)
                else str(sort).startswith("-")
            )
            numeric = known.get(str(name), {}).get("type") == "number"
            matched.sort(
                key=lambda r, n=name, num=numeric: (  # type: ignore[misc]
                    _number(r["properties"].get(n)) or 0.0
                    if num
                    else str(r["properties"].get(n) or "").lower()
                ),
                reverse=descending,
            )
        after = int(body.get("after") or 0)
        page = matched[after : after + limit]
        out: dict[str, Any] = {
            "total": len(matched),
            "results": [self._render(object_type, r, body.get("properties") or None) for r in page],
        }
        if after + limit < len(matched):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return Reply(200, out)

    @staticmethod
    def _filter(prop: dict[str, Any], spec: dict[str, Any]) -> Callable[[dict[str, str]], bool]:
        name, op = prop["name"], spec.get("operator", "EQ")
        numeric = prop["type"] == "number"

        def norm(value: Any) -> Any:
            if value is None:
                return None
            if numeric:
                return _number(value)
            return str(value).lower()

        value = norm(spec.get("value"))
        values = {norm(v) for v in spec.get("values") or []}
        high = norm(spec.get("highValue"))

        def check(props: dict[str, str]) -> bool:
            actual = norm(props.get(name))
            if op == "HAS_PROPERTY":
                return actual not in (None, "")
            if op == "NOT_HAS_PROPERTY":
                return actual in (None, "")
            if op == "EQ":
                return bool(actual == value)
            if op == "NEQ":
                return bool(actual != value)
            if op == "IN":
                return actual in values
            if op == "NOT_IN":
                return actual not in values
            if op == "CONTAINS_TOKEN":
                return actual is not None and str(value).strip("*") in str(actual)
            if op == "NOT_CONTAINS_TOKEN":
                return actual is None or str(value).strip("*") not in str(actual)
            if actual is None or value is None:
                return False
            try:
                if op == "GT":
                    return bool(actual > value)
                if op == "GTE":
                    return bool(actual >= value)
                if op == "LT":
                    return bool(actual < value)
                if op == "LTE":
                    return bool(actual <= value)
                if op == "BETWEEN":
                    return bool(value <= actual <= high)
            except TypeError:
                return False
            raise hs_error(400, "VALIDATION_ERROR", f"Unsupported operator: {op}")

        return check

    # -------------------------------------------------------------- associations
    def _existing(self, object_type: str, object_id: str) -> None:
        if str(object_id) not in self.data.records[object_type]:
            raise hs_error(
                404,
                "OBJECT_NOT_FOUND",
                f"No {SINGULAR[object_type]} with id {object_id}",
                context={"id": [str(object_id)]},
            )

    def associations_put_default(
        self, request: Request, object_type: str, object_id: str, to_type: str, to_id: str
    ) -> Reply:
        type_id = ASSOCIATION_TYPES.get((object_type, to_type))
        if type_id is None:
            raise hs_error(
                400, "VALIDATION_ERROR", f"No default association from {object_type} to {to_type}"
            )
        self._existing(object_type, object_id)
        self._existing(to_type, to_id)
        self.data.associate(object_type, object_id, to_type, to_id, [type_id])
        started = now_iso()
        result = {
            "from": {"id": object_id},
            "to": {"id": to_id},
            "associationSpec": {
                "associationCategory": "HUBSPOT_DEFINED",
                "associationTypeId": type_id,
            },
        }
        return self._batch_reply([result], [], started)

    def associations_put_labels(
        self, request: Request, object_type: str, object_id: str, to_type: str, to_id: str
    ) -> Reply:
        try:
            specs = request.get_json(force=True)
        except Exception:
            raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1") from None
        allowed = {
            t
            for (a, b), t in {**ASSOCIATION_TYPES, **PRIMARY_TYPES}.items()
            if (a, b) == (object_type, to_type)
        }
        type_ids = [int(s.get("associationTypeId", 0)) for s in specs or [] if isinstance(s, dict)]
        if not type_ids or any(t not in allowed for t in type_ids):
            raise hs_error(
                400,
                "VALIDATION_ERROR",
                f"invalid association type ids {type_ids} from {object_type} to {to_type}",
            )
        self._existing(object_type, object_id)
        self._existing(to_type, to_id)
        self.data.associate(object_type, object_id, to_type, to_id, type_ids)
        labels = ["Primary"] if any(t in (1, 2) for t in type_ids) else []
        return Reply(
            201,
            {
                "fromObjectTypeId": OBJECT_TYPE_IDS[object_type],
                "fromObjectId": int(object_id),
                "toObjectTypeId": OBJECT_TYPE_IDS[to_type],
                "toObjectId": int(to_id),
                "labels": labels,
            },
        )

    def associations_delete(
        self, request: Request, object_type: str, object_id: str, to_type: str, to_id: str
    ) -> Reply:
        self.data.dissociate(object_type, object_id, to_type, to_id)
        return Reply(204)

    def associations_list(
        self, request: Request, object_type: str, object_id: str, to_type: str
    ) -> Reply:
        self._existing(object_type, object_id)
        limit = min(int(request.args.get("limit", 500) or 500), 500)
        after = int(request.args.get("after", 0) or 0)
        linked = sorted(
            self.data.associated(object_type, object_id, to_type).items(),
            key=lambda item: int(item[0]),
        )
        page = linked[after : after + limit]
        body: dict[str, Any] = {
            "results": [
                {
                    "toObjectId": int(to_id),
                    "associationTypes": [_type_spec(t) for t in sorted(types)],
                }
                for to_id, types in page
            ]
        }
        if after + limit < len(linked):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return Reply(200, body)

    def associations_batch_associate_default(
        self, request: Request, object_type: str, to_type: str
    ) -> Reply:
        started = now_iso()
        type_id = ASSOCIATION_TYPES.get((object_type, to_type))
        if type_id is None:
            raise hs_error(
                400, "VALIDATION_ERROR", f"No default association from {object_type} to {to_type}"
            )
        results, errors = [], []
        for item in self._inputs(self._body(request)):
            from_id = str((item.get("from") or {}).get("id", ""))
            to_id = str((item.get("to") or {}).get("id", ""))
            missing = [
                i
                for t, i in ((object_type, from_id), (to_type, to_id))
                if i not in self.data.records[t]
            ]
            if missing:
                errors.append(
                    InputError(
                        "OBJECT_NOT_FOUND", f"Objects not found: {missing}", {"ids": missing}
                    )
                )
                continue
            self.data.associate(object_type, from_id, to_type, to_id, [type_id])
            results.append(
                {
                    "from": {"id": from_id},
                    "to": {"id": to_id},
                    "associationSpec": {
                        "associationCategory": "HUBSPOT_DEFINED",
                        "associationTypeId": type_id,
                    },
                }
            )
        return self._batch_reply(results, errors, started)

    def associations_batch_create(self, request: Request, object_type: str, to_type: str) -> Reply:
        started = now_iso()
        allowed = {
            t
            for (a, b), t in {**ASSOCIATION_TYPES, **PRIMARY_TYPES}.items()
            if (a, b) == (object_type, to_type)
        }
        results, errors = [], []
        for item in self._inputs(self._body(request)):
            from_id = str((item.get("from") or {}).get("id", ""))
            to_id = str((item.get("to") or {}).get("id", ""))
            type_ids = [int(t.get("associationTypeId", 0)) for t in item.get("types") or []]
            missing = [
                i
                for t, i in ((object_type, from_id), (to_type, to_id))
                if i not in self.data.records[t]
            ]
            if missing:
                errors.append(
                    InputError(
                        "OBJECT_NOT_FOUND", f"Objects not found: {missing}", {"ids": missing}
                    )
                )
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
            self.data.associate(object_type, from_id, to_type, to_id, type_ids)
            results.append(
                {
                    "fromObjectTypeId": OBJECT_TYPE_IDS[object_type],
                    "fromObjectId": int(from_id),
                    "toObjectTypeId": OBJECT_TYPE_IDS[to_type],
                    "toObjectId": int(to_id),
                    "labels": ["Primary"] if set(type_ids) & {1, 2} else [],
                }
            )
        reply = self._batch_reply(results, errors, started, ok_status=201)
        return reply

    def associations_batch_read(self, request: Request, object_type: str, to_type: str) -> Reply:
        started = now_iso()
        results, errors = [], []
        for item in self._inputs(self._body(request)):
            from_id = str(item.get("id", ""))
            if from_id not in self.data.records[object_type]:
                errors.append(
                    InputError(
                        "OBJECT_NOT_FOUND",
                        f"No {SINGULAR[object_type]} with id {from_id}",
                        {"ids": [from_id]},
                    )
                )
                continue
            linked = sorted(
                self.data.associated(object_type, from_id, to_type).items(),
                key=lambda pair: int(pair[0]),
            )
            results.append(
                {
                    "from": {"id": from_id},
                    "to": [
                        {
                            "toObjectId": int(to_id),
                            "associationTypes": [_type_spec(t) for t in sorted(types)],
                        }
                        for to_id, types in linked
                    ],
                }
            )
        return self._batch_reply(results, errors, started)

    def associations_batch_archive(self, request: Request, object_type: str, to_type: str) -> Reply:
        for item in self._inputs(self._body(request)):
            from_id = str((item.get("from") or {}).get("id", ""))
            for target in item.get("to") or []:
                self.data.dissociate(object_type, from_id, to_type, str(target.get("id", "")))
        return Reply(204)

    # ---------------------------------------------------------------- properties
    def properties_list(self, request: Request, object_type: str) -> Reply:
        archived = request.args.get("archived", "false").lower() == "true"
        return Reply(
            200,
            {
                "results": [
                    p
                    for p in self.data.properties[object_type].values()
                    if p["archived"] == archived
                ]
            },
        )

    def _property(self, object_type: str, name: str) -> dict[str, Any]:
        prop = self.data.properties[object_type].get(name)
        if prop is None or prop["archived"]:
            raise hs_error(
                404,
                "OBJECT_NOT_FOUND",
                f"Unable to find property with name {name} for objectType {SINGULAR[object_type]}",
            )
        return prop

    def properties_get(self, request: Request, object_type: str, name: str) -> Reply:
        return Reply(200, self._property(object_type, name))

    def properties_create(self, request: Request, object_type: str) -> Reply:
        body = self._body(request)
        name = str(body.get("name") or "")
        existing = self.data.properties[object_type].get(name)
        if existing is not None and not existing["archived"]:
            # (unconfirmed) the real API answers 409 with category OBJECT_ALREADY_EXISTS
            raise hs_error(
                409,
                "OBJECT_ALREADY_EXISTS",
                f"A property named '{name}' already exists for objectType {SINGULAR[object_type]}",
                sub_category="Properties.OBJECT_ALREADY_EXISTS",
            )
        problems = validate_definition(body, self.data.groups[object_type])
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
        self.data.properties[object_type][name] = prop
        if prop["hasUniqueValue"]:
            self.data.unique[(object_type, name)] = {}
        return Reply(201, prop)

    def properties_update(self, request: Request, object_type: str, name: str) -> Reply:
        prop = self._property(object_type, name)
        body = self._body(request)
        if prop["hubspotDefined"] and set(body) - {"label", "description", "displayOrder"}:
            raise hs_error(
                400,
                "VALIDATION_ERROR",
                f"Property {name} is a HubSpot defined "
                "property; only label and description can be changed",
            )
        candidate = {**prop, **{k: v for k, v in body.items() if k != "name"}}
        problems = validate_definition(candidate, self.data.groups[object_type])
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
        self.data.properties[object_type][name] = candidate
        return Reply(200, candidate)

    def properties_archive(self, request: Request, object_type: str, name: str) -> Reply:
        prop = self._property(object_type, name)
        if prop["hubspotDefined"]:
            raise hs_error(
                400,
                "VALIDATION_ERROR",
                f"Property {name} is HubSpot defined and cannot be archived",
            )
        prop["archived"] = True
        return Reply(204)

    def property_groups_list(self, request: Request, object_type: str) -> Reply:
        return Reply(200, {"results": list(self.data.groups[object_type].values())})

    def _group(self, object_type: str, name: str) -> dict[str, Any]:
        group = self.data.groups[object_type].get(name)
        if group is None:
            raise hs_error(
                404,
                "OBJECT_NOT_FOUND",
                f"Unable to find property group {name} for objectType {SINGULAR[object_type]}",
            )
        return group

    def property_groups_get(self, request: Request, object_type: str, name: str) -> Reply:
        return Reply(200, self._group(object_type, name))

    def property_groups_create(self, request: Request, object_type: str) -> Reply:
        body = self._body(request)
        name, label = str(body.get("name") or ""), str(body.get("label") or "")
        if not name or not label:
            raise hs_error(400, "VALIDATION_ERROR", "name and label are required")
        if name in self.data.groups[object_type]:
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
        self.data.groups[object_type][name] = group
        return Reply(201, group)

    def property_groups_update(self, request: Request, object_type: str, name: str) -> Reply:
        group = self._group(object_type, name)
        body = self._body(request)
        for key in ("label", "displayOrder"):
            if key in body:
                group[key] = body[key]
        return Reply(200, group)
