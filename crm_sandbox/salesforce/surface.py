"""The Salesforce REST surface: OAuth token, sObjects, describe, SOQL, Collections, Bulk API
2.0 ingest and Tooling ``CustomField``, answering in Salesforce's own shapes and error codes.

``SalesforceData`` keeps the records (typed values, as Salesforce stores them) and indexes on
the fields a connector looks records up by; ``SalesforceSurface`` turns requests into
operations on it. Both run under the sandbox's one data lock.
"""

from __future__ import annotations

import csv
import io
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography import x509
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request

from crm_sandbox import ids
from crm_sandbox.control import Controls
from crm_sandbox.replies import HttpError, Reply
from crm_sandbox.salesforce import soql
from crm_sandbox.salesforce.schema import (
    Field,
    FieldError,
    JsonTypeError,
    coerce,
    field_from_metadata,
    now_datetime,
    standard_objects,
)

API = "/services/data/<version>"
MAX_COLLECTION = 200
DEFAULT_QUERY_BATCH = 2000
MAX_LOCATORS = 500
INDEXED_STANDARD = frozenset({"email", "accountid", "username", "whoid", "whatid", "parentid"})
AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
WRITE_ENDPOINTS = frozenset(
    {
        "sobject.create",
        "sobject.update",
        "sobject.upsert",
        "sobject.delete",
        "composite_sobjects.post",
        "composite_sobjects.patch",
        "composite_sobjects_upsert.patch",
        "composite_sobjects.delete",
    }
)
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was "
    "using AllOrNone header",
    "fields": [],
}


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None) -> HttpError:
    body: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        body["fields"] = fields
    return HttpError(Reply(status, [body]))


class UnknownFieldError(Exception):
    def __init__(self, object_name: str, name: str) -> None:
        super().__init__(name)
        self.object_name, self.name = object_name, name

    def http(self) -> HttpError:
        return sf_error(
            400,
            "INVALID_FIELD",
            f"No such column '{self.name}' on sobject of type {self.object_name}",
        )


@dataclass
class Locator:
    object_name: str
    select: list[tuple[str, ...]]
    ids: list[str]
    position: int
    batch: int


@dataclass
class BulkJob:
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


_DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}


class SalesforceData:
    """Objects, fields and records of the Salesforce org."""

    def __init__(self) -> None:
        self.ids = ids.SalesforceIds()
        self.objects: dict[str, dict[str, Any]] = {}
        self.records: dict[str, dict[str, dict[str, Any]]] = {}
        self.deleted: set[str] = set()
        self.indexes: dict[tuple[str, str], dict[Any, set[str]]] = {}
        self.custom_fields: dict[str, str] = {}  # "Contact.X__c" -> 00N id
        self.field_metadata: dict[str, dict[str, Any]] = {}  # 00N id -> Tooling Metadata
        self.jobs: dict[str, BulkJob] = {}
        self.locators: OrderedDict[str, Locator] = OrderedDict()
        self.default_owner = ""
        self.clear()

    def clear(self) -> None:
        self.objects = standard_objects()
        self.records = {name: {} for name in self.objects}
        self.deleted = set()
        self.custom_fields = {}
        self.field_metadata = {}
        self.jobs = {}
        self.locators = OrderedDict()
        self._reindex()

    # --------------------------------------------------------------- persistence
    def dump(self) -> dict[str, Any]:
        return {
            "objects": self.objects,
            "records": self.records,
            "deleted": sorted(self.deleted),
            "custom_fields": self.custom_fields,
            "field_metadata": self.field_metadata,
            "next_id": self.ids.peek(),
            "default_owner": self.default_owner,
        }

    def load(self, data: dict[str, Any]) -> None:
        self.objects = data["objects"]
        self.records = data["records"]
        self.deleted = set(data.get("deleted", []))
        self.custom_fields = data.get("custom_fields", {})
        self.field_metadata = data.get("field_metadata", {})
        self.ids = ids.SalesforceIds(int(data.get("next_id", 1)))
        self.default_owner = data.get("default_owner", "")
        self.jobs, self.locators = {}, OrderedDict()
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
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
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
                        index.setdefault(_key(value), set()).add(rid)
                self.indexes[(name, field_name)] = index

    def add_field(self, object_name: str, new_field: Field) -> None:
        obj = self.objects[object_name]
        obj["fields"][new_field["name"].lower()] = new_field
        if new_field["externalId"] or new_field["unique"]:
            self.indexes[(object_name, new_field["name"])] = {}
        default = new_field["defaultValue"]
        if default is not None:
            for record in self.records[object_name].values():
                record.setdefault(new_field["name"], default)

    # ------------------------------------------------------------------ records
    def lookup(self, object_name: str, field_name: str, value: Any) -> set[str]:
        index = self.indexes.get((object_name, field_name))
        if index is not None:
            return set(index.get(_key(value), ()))
        return {
            rid
            for rid, record in self.records[object_name].items()
            if _key(record.get(field_name)) == _key(value)
        }

    def exists(self, record_id: str) -> bool:
        owner = ids.OBJECT_BY_PREFIX.get(record_id[:3])
        return owner is not None and record_id in self.records.get(owner, {})

    def prepare(
        self, object_name: str, body: dict[str, Any], *, creating: bool, from_csv: bool = False
    ) -> dict[str, Any]:
        """Typed values for a write; raises UnknownFieldError, JsonTypeError or FieldError."""
        obj = self.objects[object_name]
        fields = obj["fields"]
        values: dict[str, Any] = {}
        for key, raw in body.items():
            if key == "attributes":
                continue
            found = fields.get(key.lower())
            if found is None:
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

    def delete(self, object_name: str, rid: str) -> None:
        old = self.records[object_name].pop(rid)
        self.deleted.add(rid)
        self._index(object_name, rid, old, None)

    def _derive(self, object_name: str, record: dict[str, Any]) -> None:
        if object_name in ("Contact", "User"):
            parts = [record.get("FirstName"), record.get("LastName")]
            record["Name"] = " ".join(p for p in parts if p)
        if object_name == "Task":
            record["IsClosed"] = record.get("Status") == "Completed"

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
                bucket = index.get(_key(before))
                if bucket is not None:
                    bucket.discard(rid)
                    if not bucket:
                        del index[_key(before)]
            if after is not None:
                index.setdefault(_key(after), set()).add(rid)


def _key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _attributes(object_name: str, rid: str, version: str) -> dict[str, str]:
    return {"type": object_name, "url": f"/services/data/{version}/sobjects/{object_name}/{rid}"}


class SalesforceSurface:
    """Routes ``/services/...`` requests to handlers over ``SalesforceData``."""

    def __init__(
        self,
        data: SalesforceData,
        controls: Controls,
        lock: threading.RLock,
        base_url: Callable[[], str],
    ) -> None:
        self.data, self.controls, self.lock, self.base_url = data, controls, lock, base_url
        self.url_map = Map(
            [
                Rule("/services/oauth2/token", endpoint="oauth.token", methods=["POST"]),
                Rule(f"{API}/sobjects", endpoint="describe_global", methods=["GET"]),
                Rule(f"{API}/sobjects/<obj>/describe", endpoint="describe", methods=["GET"]),
                Rule(f"{API}/sobjects/<obj>", endpoint="sobject.metadata", methods=["GET"]),
                Rule(f"{API}/sobjects/<obj>", endpoint="sobject.create", methods=["POST"]),
                Rule(f"{API}/sobjects/<obj>/<rid>", endpoint="sobject.get", methods=["GET"]),
                Rule(f"{API}/sobjects/<obj>/<rid>", endpoint="sobject.update", methods=["PATCH"]),
                Rule(f"{API}/sobjects/<obj>/<rid>", endpoint="sobject.delete", methods=["DELETE"]),
                Rule(
                    f"{API}/sobjects/<obj>/<ext>/<path:value>",
                    endpoint="sobject.get",
                    methods=["GET"],
                ),
                Rule(
                    f"{API}/sobjects/<obj>/<ext>/<path:value>",
                    endpoint="sobject.upsert",
                    methods=["PATCH"],
                ),
                Rule(
                    f"{API}/sobjects/<obj>/<ext>/<path:value>",
                    endpoint="sobject.delete",
                    methods=["DELETE"],
                ),
                Rule(f"{API}/query", endpoint="query", methods=["GET"]),
                Rule(f"{API}/queryAll", endpoint="query", methods=["GET"]),
                Rule(f"{API}/query/<locator>", endpoint="query_more", methods=["GET"]),
                Rule(f"{API}/queryAll/<locator>", endpoint="query_more", methods=["GET"]),
                Rule(
                    f"{API}/composite/sobjects",
                    endpoint="composite_sobjects.post",
                    methods=["POST"],
                ),
                Rule(
                    f"{API}/composite/sobjects",
                    endpoint="composite_sobjects.patch",
                    methods=["PATCH"],
                ),
                Rule(
                    f"{API}/composite/sobjects",
                    endpoint="composite_sobjects.delete",
                    methods=["DELETE"],
                ),
                Rule(
                    f"{API}/composite/sobjects/<obj>",
                    endpoint="composite_sobjects.get",
                    methods=["GET", "POST"],
                ),
                Rule(
                    f"{API}/composite/sobjects/<obj>/<ext>",
                    endpoint="composite_sobjects_upsert.patch",
                    methods=["PATCH"],
                ),
                Rule(
                    f"{API}/tooling/sobjects/CustomField",
                    endpoint="tooling.custom_field.create",
                    methods=["POST"],
                ),
                Rule(f"{API}/tooling/query", endpoint="tooling.query", methods=["GET"]),
                Rule(
                    f"{API}/tooling/sobjects/CustomField/<field_id>",
                    endpoint="tooling.custom_field.update",
                    methods=["PATCH"],
                ),
                Rule(f"{API}/jobs/ingest", endpoint="bulk2.create_job", methods=["POST"]),
                Rule(f"{API}/jobs/ingest", endpoint="bulk2.list_jobs", methods=["GET"]),
                Rule(f"{API}/jobs/ingest/<job_id>", endpoint="bulk2.get_job", methods=["GET"]),
                Rule(f"{API}/jobs/ingest/<job_id>", endpoint="bulk2.set_state", methods=["PATCH"]),
                Rule(
                    f"{API}/jobs/ingest/<job_id>", endpoint="bulk2.delete_job", methods=["DELETE"]
                ),
                Rule(
                    f"{API}/jobs/ingest/<job_id>/batches", endpoint="bulk2.upload", methods=["PUT"]
                ),
                Rule(
                    f"{API}/jobs/ingest/<job_id>/<kind>", endpoint="bulk2.results", methods=["GET"]
                ),
                Rule(f"{API}/limits", endpoint="limits", methods=["GET"]),
            ],
            strict_slashes=False,
            merge_slashes=False,
        )

    # ------------------------------------------------------------------ pipeline
    def handle(self, request: Request) -> tuple[str, Reply]:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, matched_args = adapter.match()
            args = dict(matched_args)
        except NotFound:
            return "salesforce.not_found", self._finish(
                Reply(
                    404,
                    [
                        {
                            "errorCode": "NOT_FOUND",
                            "message": "The requested resource does not exist",
                        }
                    ],
                )
            )
        except MethodNotAllowed as exc:
            allowed = ",".join(sorted(exc.valid_methods or []))
            return "salesforce.method_not_allowed", self._finish(
                Reply(
                    405,
                    [
                        {
                            "errorCode": "METHOD_NOT_ALLOWED",
                            "message": f"HTTP Method '{request.method}' not allowed. Allowed "
                            f"are {allowed}",
                        }
                    ],
                )
            )
        key = f"salesforce.{endpoint}"
        try:
            reply = self._run(request, endpoint, args)
        except HttpError as exc:
            reply = exc.reply
        return key, self._finish(reply)

    def _finish(self, reply: Reply) -> Reply:
        reply.headers["Sforce-Limit-Info"] = self.controls.salesforce_usage_header()
        return reply

    def _run(self, request: Request, endpoint: str, args: dict[str, Any]) -> Reply:
        controls = self.controls
        faults = controls.faults["salesforce"]
        if faults.in_outage(time.time()):
            raise sf_error(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable")
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        if endpoint == "oauth.token":
            return self.oauth_token(request)
        self._authenticate(request)
        if not controls.salesforce_admit():
            raise sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if controls.roll_error("salesforce"):
            status = faults.error_status
            raise sf_error(
                status,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this "
                f"ErrorId if you contact support: {secrets.randbelow(10**9)}-{status} (-1)",
            )
        version = args.pop("version", "v59.0")
        if not version.startswith("v"):
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        locked = endpoint in WRITE_ENDPOINTS and controls.take_burst("salesforce", "lock_row_burst")
        handler = getattr(self, endpoint.replace(".", "_"))
        with self.lock:
            result: Reply = handler(request, version=version, lock_fault=locked, **args)
            return result

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        state = "invalid"
        if scheme.lower() in ("bearer", "oauth") and token:
            state = self.controls.check_token("salesforce", token.strip())
        if state != "ok":
            raise sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")

    @staticmethod
    def _json(request: Request) -> Any:
        try:
            return request.get_json(force=True, silent=False)
        except Exception:
            raise sf_error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON") from None

    # --------------------------------------------------------------------- OAuth
    def oauth_token(self, request: Request) -> Reply:
        form = request.form
        grant = form.get("grant_type", "")
        creds = self.controls.credentials

        def refuse(error: str, description: str) -> Reply:
            return Reply(400, {"error": error, "error_description": description})

        if grant == "client_credentials":
            client_id = form.get("client_id") or (
                request.authorization.username if request.authorization else None
            )
            secret = form.get("client_secret") or (
                request.authorization.password if request.authorization else None
            )
            if client_id != creds.salesforce_client_id or secret != creds.salesforce_client_secret:
                return refuse("invalid_client", "invalid client credentials")
            username = creds.salesforce_username
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            assertion = form.get("assertion", "")
            if not creds.salesforce_jwt_public_key:
                return refuse("invalid_grant", "invalid assertion")
            try:
                header = jwt.get_unverified_header(assertion)
                claims = jwt.decode(
                    assertion,
                    _public_key(creds.salesforce_jwt_public_key),
                    algorithms=["RS256"],
                    audience=[*AUDIENCES, self.base_url(), self.base_url() + "/"],
                    options={"require": ["exp", "iss", "sub", "aud"]},
                )
            except jwt.ExpiredSignatureError:
                return refuse("invalid_grant", "expired authorization code")
            except jwt.InvalidAudienceError:
                return refuse("invalid_grant", "audience is invalid")
            except jwt.PyJWTError:
                return refuse("invalid_grant", "invalid assertion")
            if header.get("alg") != "RS256":
                return refuse("invalid_grant", "invalid assertion")
            if claims.get("iss") != creds.salesforce_client_id:
                return refuse("invalid_client_id", "client identifier invalid")
            if claims.get("sub") != creds.salesforce_username:
                return refuse("invalid_grant", "user hasn't approved this consumer")
            username = claims["sub"]
        else:
            return refuse("unsupported_grant_type", "grant type not supported")
        token = self.controls.issue_token("salesforce")
        issued = str(int(time.time() * 1000))
        base = self.base_url()
        return Reply(
            200,
            {
                "access_token": token,
                "instance_url": base,
                "id": f"{base}/id/00D5g000004sBoxEAE/{self.data.default_owner or username}",
                "token_type": "Bearer",
                "issued_at": issued,
                "signature": secrets.token_urlsafe(32),
                "scope": "api",
            },
        )

    # ------------------------------------------------------------------ describe
    def describe_global(self, request: Request, version: str, **_extra: Any) -> Reply:
        return Reply(
            200,
            {
                "encoding": "UTF-8",
                "maxBatchSize": MAX_COLLECTION,
                "sobjects": [self._object_summary(o, version) for o in self.data.objects.values()],
            },
        )

    @staticmethod
    def _object_summary(obj: dict[str, Any], version: str) -> dict[str, Any]:
        base = f"/services/data/{version}/sobjects/{obj['name']}"
        return {
            "name": obj["name"],
            "label": obj["label"],
            "labelPlural": obj["labelPlural"],
            "keyPrefix": obj["keyPrefix"],
            "custom": obj["custom"],
            "createable": True,
            "updateable": True,
            "deletable": True,
            "queryable": True,
            "retrieveable": True,
            "searchable": True,
            "urls": {
                "sobject": base,
                "describe": f"{base}/describe",
                "rowTemplate": f"{base}/{{ID}}",
            },
        }

    def describe(self, request: Request, version: str, obj: str, **_extra: Any) -> Reply:
        found = self.data.require_object(obj)
        body = self._object_summary(found, version)
        body["fields"] = [dict(f) for f in found["fields"].values()]
        body["childRelationships"] = []
        body["recordTypeInfos"] = []
        return Reply(200, body)

    def sobject_metadata(self, request: Request, version: str, obj: str, **_extra: Any) -> Reply:
        found = self.data.require_object(obj)
        return Reply(
            200, {"objectDescribe": self._object_summary(found, version), "recentItems": []}
        )

    def limits(self, request: Request, **_extra: Any) -> Reply:
        stats = self.controls.stats()["salesforce_api_usage"]
        return Reply(
            200,
            {
                "DailyApiRequests": {
                    "Max": stats["limit"],
                    "Remaining": stats["limit"] - stats["used"],
                }
            },
        )

    # ------------------------------------------------------------------ sObjects
    def _resolve_id(self, object_name: str, raw: str) -> str:
        """The stored id for a path id; MALFORMED_ID or NOT_FOUND as Salesforce answers."""
        prefix = self.data.objects[object_name]["keyPrefix"]
        if ids.is_well_formed(raw):
            rid = ids.normalize(raw)
            if rid[:3] != prefix:
                raise sf_error(
                    400,
                    "MALFORMED_ID",
                    f"{object_name} ID: id value of incorrect type: {raw}",
                    ["Id"],
                )
            if rid not in self.data.records[object_name]:
                raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
            return rid
        if len(raw) in (15, 18) and raw[:3] == prefix:
            raise sf_error(400, "MALFORMED_ID", f"malformed id {raw}", ["Id"])
        raise sf_error(
            404,
            "NOT_FOUND",
            f"Provided external ID field does not exist or is not accessible: {raw}",
        )

    def _render(
        self, object_name: str, record: dict[str, Any], version: str, names: Iterable[str]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": _attributes(object_name, record["Id"], version)}
        for name in names:
            out[name] = record.get(name)
        return out

    def _field_names(self, object_name: str, request: Request) -> list[str]:
        fields = self.data.objects[object_name]["fields"]
        wanted = request.args.get("fields")
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

    def _by_external_id(self, object_name: str, ext: str, value: str) -> tuple[str, set[str]]:
        found = self.data.objects[object_name]["fields"].get(ext.lower())
        if found is None or not (found["externalId"] or found["idLookup"]):
            raise sf_error(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {ext}",
            )
        if found["name"] == "Id":
            rid = ids.normalize(value) if ids.is_well_formed(value) else value
            hits = {rid} if rid in self.data.records[object_name] else set()
            return "Id", hits
        return found["name"], self.data.lookup(object_name, found["name"], value)

    def sobject_get(
        self,
        request: Request,
        version: str,
        obj: str,
        rid: str = "",
        ext: str = "",
        value: str = "",
        **_extra: Any,
    ) -> Reply:
        name = self.data.require_object(obj)["name"]
        if ext:
            _, hits = self._by_external_id(name, ext, value)
            if not hits:
                raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
            if len(hits) > 1:
                return Reply(
                    300, [f"/services/data/{version}/sobjects/{name}/{h}" for h in sorted(hits)]
                )
            record_id = next(iter(hits))
        else:
            record_id = self._resolve_id(name, rid)
        record = self.data.records[name][record_id]
        return Reply(200, self._render(name, record, version, self._field_names(name, request)))

    def _body_object(self, request: Request) -> dict[str, Any]:
        body = self._json(request)
        if not isinstance(body, dict):
            raise sf_error(
                400,
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of SObject from START_ARRAY value [line:1, column:1]",
            )
        return body

    def _prepare_or_raise(self, name: str, body: dict[str, Any], creating: bool) -> dict[str, Any]:
        try:
            return self.data.prepare(name, body, creating=creating)
        except UnknownFieldError as exc:
            raise exc.http() from None
        except JsonTypeError as exc:
            raise sf_error(400, "JSON_PARSER_ERROR", str(exc)) from None
        except FieldError as exc:
            raise sf_error(400, exc.code, exc.message, exc.fields) from None

    @staticmethod
    def _lock_error(rid: str | None = None) -> FieldError:
        return FieldError(
            "UNABLE_TO_LOCK_ROW",
            f"unable to obtain exclusive access to this record or 1 records: {rid or ''}".strip(),
            [],
        )

    def sobject_create(
        self, request: Request, version: str, obj: str, lock_fault: bool, **_extra: Any
    ) -> Reply:
        name = self.data.require_object(obj)["name"]
        body = self._body_object(request)
        values = self._prepare_or_raise(name, body, creating=True)
        if lock_fault:
            error = self._lock_error()
            raise sf_error(400, error.code, error.message, [])
        rid = self.data.insert(name, values)
        return Reply(201, {"id": rid, "success": True, "errors": []})

    def sobject_update(
        self, request: Request, version: str, obj: str, rid: str, lock_fault: bool, **_extra: Any
    ) -> Reply:
        name = self.data.require_object(obj)["name"]
        record_id = self._resolve_id(name, rid)
        body = self._body_object(request)
        values = self._prepare_or_raise(name, body, creating=False)
        if lock_fault:
            error = self._lock_error(record_id)
            raise sf_error(400, error.code, error.message, [])
        self.data.update(name, record_id, values)
        return Reply(204)

    def sobject_upsert(
        self,
        request: Request,
        version: str,
        obj: str,
        ext: str,
        value: str,
        lock_fault: bool,
        **_extra: Any,
    ) -> Reply:
        name = self.data.require_object(obj)["name"]
        field_name, hits = self._by_external_id(name, ext, value)
        if len(hits) > 1:
            return Reply(
                300, [f"/services/data/{version}/sobjects/{name}/{h}" for h in sorted(hits)]
            )
        body = self._body_object(request)
        if lock_fault:
            error = self._lock_error()
            raise sf_error(400, error.code, error.message, [])
        if hits:
            rid = next(iter(hits))
            values = self._prepare_or_raise(name, body, creating=False)
            self.data.update(name, rid, values)
            return Reply(200, {"id": rid, "success": True, "errors": [], "created": False})
        if field_name == "Id":
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        values = self._prepare_or_raise(name, {**body, field_name: value}, creating=True)
        rid = self.data.insert(name, values)
        return Reply(201, {"id": rid, "success": True, "errors": [], "created": True})

    def sobject_delete(
        self,
        request: Request,
        version: str,
        obj: str,
        lock_fault: bool,
        rid: str = "",
        ext: str = "",
        value: str = "",
        **_extra: Any,
    ) -> Reply:
        name = self.data.require_object(obj)["name"]
        if ext:
            _, hits = self._by_external_id(name, ext, value)
            if not hits:
                raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
            record_id = next(iter(hits))
        else:
            record_id = self._resolve_id(name, rid)
        if lock_fault:
            error = self._lock_error(record_id)
            raise sf_error(400, error.code, error.message, [])
        self.data.delete(name, record_id)
        return Reply(204)

    # ---------------------------------------------------------------------- SOQL
    def query(self, request: Request, version: str, **_extra: Any) -> Reply:
        text = request.args.get("q", "")
        batch = DEFAULT_QUERY_BATCH
        options = request.headers.get("Sforce-Query-Options", "")
        for part in options.split(","):
            key, _, raw = part.partition("=")
            if key.strip() == "batchSize" and raw.strip().isdigit():
                batch = min(max(int(raw), 200), DEFAULT_QUERY_BATCH)
        return Reply(200, self.run_query(text, version, batch))

    def run_query(
        self, text: str, version: str, batch: int = DEFAULT_QUERY_BATCH
    ) -> dict[str, Any]:
        try:
            parsed = soql.parse(text)
        except soql.SoqlError as exc:
            raise self._soql_error(text, exc) from None
        try:
            evaluator = QueryEvaluator(self.data, parsed, text)
            select, matched = evaluator.run()
        except soql.SoqlError as exc:
            raise self._soql_error(text, exc) from None
        if parsed.count_only:
            return {"totalSize": len(matched), "done": True, "records": []}
        return self._page(
            parsed.object_name, evaluator.object_name, select, matched, 0, batch, version
        )

    def _page(
        self,
        _written: str,
        object_name: str,
        select: list[tuple[str, ...]],
        matched: list[str],
        position: int,
        batch: int,
        version: str,
    ) -> dict[str, Any]:
        chunk = matched[position : position + batch]
        records = []
        store = self.data.records[object_name]
        for rid in chunk:
            record = store.get(rid)
            if record is not None:
                records.append(self._project(object_name, record, select, version))
        body: dict[str, Any] = {"totalSize": len(matched), "done": True, "records": records}
        if position + batch < len(matched):
            locator = f"01g5g{secrets.token_hex(5)}-{position + batch}"
            self.data.locators[locator] = Locator(
                object_name, select, matched, position + batch, batch
            )
            while len(self.data.locators) > MAX_LOCATORS:
                self.data.locators.popitem(last=False)
            body["done"] = False
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}"
        return body

    def _project(
        self, object_name: str, record: dict[str, Any], select: list[tuple[str, ...]], version: str
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": _attributes(object_name, record["Id"], version)}
        for path in select:
            if len(path) == 1:
                out[path[0]] = record.get(path[0])
                continue
            relation, reference, target, target_field = path
            parent_id = record.get(reference)
            parent = self.data.records.get(target, {}).get(parent_id) if parent_id else None
            if parent is None:
                out.setdefault(relation, None)
                continue
            nested = out.get(relation) or {
                "attributes": _attributes(target, str(parent_id), version)
            }
            nested[target_field] = parent.get(target_field)
            out[relation] = nested
        return out

    def query_more(self, request: Request, version: str, locator: str, **_extra: Any) -> Reply:
        cursor = self.data.locators.pop(locator, None)
        if cursor is None:
            raise sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return Reply(
            200,
            self._page(
                cursor.object_name,
                cursor.object_name,
                cursor.select,
                cursor.ids,
                cursor.position,
                cursor.batch,
                version,
            ),
        )

    @staticmethod
    def _soql_error(text: str, exc: soql.SoqlError) -> HttpError:
        pointer = " " * (exc.column - 1) + "^"
        message = f"\n{text}\n{pointer}\nERROR at Row:1:Column:{exc.column}\n{exc.message}"
        return sf_error(400, exc.kind, message)

    # --------------------------------------------------------------- Collections
    def _collection_records(self, request: Request) -> tuple[bool, list[dict[str, Any]]]:
        body = self._body_object(request)
        records = body.get("records")
        if not isinstance(records, list):
            raise sf_error(400, "INVALID_FIELD", "records: must not be null", ["records"])
        if len(records) > MAX_COLLECTION:
            raise sf_error(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more "
                f"than {MAX_COLLECTION} records into this call",
            )
        return bool(body.get("allOrNone", False)), records

    def _collection_write(
        self,
        request: Request,
        lock_fault: bool,
        plan: Callable[[dict[str, Any]], tuple[str, Callable[[], dict[str, Any]]]],
    ) -> Reply:
        """Validate every record first (type errors fail the whole call), then apply."""
        all_or_none, records = self._collection_records(request)
        planned: list[tuple[str, Callable[[], dict[str, Any]]] | dict[str, Any]] = []
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
                planned.append(_failure(exc))
            except HttpError:
                raise
        if lock_fault:
            return Reply(
                200,
                [
                    _failure(self._lock_error(p[0] if isinstance(p, tuple) else None))
                    for p in planned
                ],
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
                results.append(_failure(exc))
        return Reply(200, results)

    def _record_type(self, record: dict[str, Any]) -> str:
        attributes = record.get("attributes")
        if not isinstance(attributes, dict) or not attributes.get("type"):
            raise FieldError("INVALID_TYPE", "Must send a concrete entity type.", [])
        found = self.data.object_named(str(attributes["type"]))
        if found is None:
            raise FieldError(
                "INVALID_TYPE", f"sObject type '{attributes['type']}' is not supported.", []
            )
        return str(found["name"])

    def composite_sobjects_post(self, request: Request, lock_fault: bool, **_extra: Any) -> Reply:
        def plan(record: dict[str, Any]) -> tuple[str, Callable[[], dict[str, Any]]]:
            name = self._record_type(record)
            body = {k: v for k, v in record.items() if k.lower() != "id"}
            if any(k.lower() == "id" and v for k, v in record.items()):
                raise FieldError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
            values = self.data.prepare(name, body, creating=True)
            return "", lambda: {"id": self.data.insert(name, values), "success": True, "errors": []}

        return self._collection_write(request, lock_fault, plan)

    def composite_sobjects_patch(self, request: Request, lock_fault: bool, **_extra: Any) -> Reply:
        def plan(record: dict[str, Any]) -> tuple[str, Callable[[], dict[str, Any]]]:
            name = self._record_type(record)
            raw_id = next((v for k, v in record.items() if k.lower() == "id"), None)
            body = {k: v for k, v in record.items() if k.lower() != "id"}
            rid = self._collection_id(name, raw_id)
            values = self.data.prepare(name, body, creating=False)

            def apply() -> dict[str, Any]:
                if rid not in self.data.records[name]:
                    raise FieldError("ENTITY_IS_DELETED", "entity is deleted", [])
                self.data.update(name, rid, values)
                return {"id": rid, "success": True, "errors": []}

            return rid, apply

        return self._collection_write(request, lock_fault, plan)

    def _collection_id(self, name: str, raw_id: Any) -> str:
        if not raw_id or not isinstance(raw_id, str):
            raise FieldError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        if not ids.is_well_formed(raw_id):
            raise FieldError("MALFORMED_ID", f"malformed id {raw_id}", ["Id"])
        rid = ids.normalize(raw_id)
        if rid[:3] != self.data.objects[name]["keyPrefix"]:
            raise FieldError(
                "MALFORMED_ID", f"{name} ID: id value of incorrect type: {raw_id}", ["Id"]
            )
        if rid in self.data.deleted:
            raise FieldError("ENTITY_IS_DELETED", "entity is deleted", [])
        if rid not in self.data.records[name]:
            raise FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        return rid

    def composite_sobjects_upsert_patch(
        self, request: Request, obj: str, ext: str, lock_fault: bool, **_extra: Any
    ) -> Reply:
        name = self.data.require_object(obj)["name"]
        found = self.data.objects[name]["fields"].get(ext.lower())
        if found is None or not (found["externalId"] or found["name"] == "Id"):
            raise sf_error(
                400,
                "INVALID_FIELD",
                f"Field name provided, {ext} is not an External ID or indexed field for {name}",
            )
        field_name = found["name"]

        def plan(record: dict[str, Any]) -> tuple[str, Callable[[], dict[str, Any]]]:
            record_type = self._record_type(record)
            if record_type != name:
                raise FieldError(
                    "INVALID_TYPE", f"Record type {record_type} does not match {name}", []
                )
            key = next((v for k, v in record.items() if k.lower() == field_name.lower()), None)
            if key in (None, ""):
                raise FieldError("MISSING_ARGUMENT", f"{field_name} not specified", [field_name])
            body = {k: v for k, v in record.items() if k.lower() != "id" or field_name != "Id"}
            # validate against both shapes now; the branch is chosen when applied
            update_values = self.data.prepare(
                name,
                {k: v for k, v in body.items() if k.lower() != field_name.lower()},
                creating=False,
            )
            create_values = (
                self.data.prepare(name, body, creating=True) if field_name != "Id" else {}
            )

            def apply() -> dict[str, Any]:
                hits = (
                    self.data.lookup(name, field_name, key)
                    if field_name != "Id"
                    else (
                        {ids.normalize(str(key))} & set(self.data.records[name])
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
                    self.data.update(name, rid, update_values)
                    return {"id": rid, "success": True, "errors": [], "created": False}
                if field_name == "Id":
                    raise FieldError(
                        "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []
                    )
                rid = self.data.insert(name, create_values)
                return {"id": rid, "success": True, "errors": [], "created": True}

            return "", apply

        return self._collection_write(request, lock_fault, plan)

    def composite_sobjects_get(
        self, request: Request, version: str, obj: str, **_extra: Any
    ) -> Reply:
        name = self.data.require_object(obj)["name"]
        if request.method == "POST":
            body = self._body_object(request)
            raw_ids, wanted = body.get("ids") or [], body.get("fields") or []
        else:
            raw_ids = [i for i in request.args.get("ids", "").split(",") if i]
            wanted = [f for f in request.args.get("fields", "").split(",") if f]
        if len(raw_ids) > 2000:
            raise sf_error(400, "EXCEEDED_ID_LIMIT", "too many ids")
        fields = self.data.objects[name]["fields"]
        names = []
        for raw in wanted:
            found = fields.get(str(raw).lower())
            if found is None:
                raise UnknownFieldError(name, str(raw)).http()
            names.append(found["name"])
        out: list[dict[str, Any] | None] = []
        for raw in raw_ids:
            rid = ids.normalize(raw) if ids.is_well_formed(raw) else raw
            record = self.data.records[name].get(rid)
            out.append(None if record is None else self._render(name, record, version, names))
        return Reply(200, out)

    def composite_sobjects_delete(self, request: Request, lock_fault: bool, **_extra: Any) -> Reply:
        raw_ids = [i for i in request.args.get("ids", "").split(",") if i]
        if len(raw_ids) > MAX_COLLECTION:
            raise sf_error(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more "
                f"than {MAX_COLLECTION} records into this call",
            )
        results = []
        for raw in raw_ids:
            owner = ids.OBJECT_BY_PREFIX.get(raw[:3], "")
            rid = ids.normalize(raw) if ids.is_well_formed(raw) else ""
            if lock_fault:
                results.append(_failure(self._lock_error(rid)))
            elif not rid:
                results.append(_failure(FieldError("MALFORMED_ID", f"malformed id {raw}", [])))
            elif rid not in self.data.records.get(owner, {}):
                results.append(_failure(FieldError("ENTITY_IS_DELETED", "entity is deleted", [])))
            else:
                self.data.delete(owner, rid)
                results.append({"id": rid, "success": True, "errors": []})
        return Reply(200, results)

    # ------------------------------------------------------------------- Tooling
    def tooling_custom_field_create(self, request: Request, **_extra: Any) -> Reply:
        body = self._body_object(request)
        full_name = str(body.get("FullName") or "")
        metadata = body.get("Metadata")
        object_name, _, field_name = full_name.partition(".")
        if not field_name or not isinstance(metadata, dict):
            raise sf_error(
                400,
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [FullName, Metadata]",
                ["FullName", "Metadata"],
            )
        # Task (and Event) custom fields are defined on the Activity object, as in the
        # Metadata API (not confirmed against official docs with the search tool).
        obj = self.data.object_named("Task" if object_name == "Activity" else object_name)
        if obj is None:
            raise sf_error(
                400,
                "INVALID_CROSS_REFERENCE_KEY",
                f"Cannot find object: {object_name}",
                ["FullName"],
            )
        developer = field_name.removesuffix("__c")
        if (
            not field_name.endswith("__c")
            or not developer.replace("_", "").isalnum()
            or "__" in developer
            or not developer[:1].isalpha()
        ):
            raise sf_error(
                400,
                "INVALID_FIELD",
                f"Invalid field name: {field_name}. The name "
                "must begin with a letter, use only alphanumerics and single "
                "underscores, and end with __c",
                ["FullName"],
            )
        if field_name.lower() in obj["fields"]:
            raise sf_error(
                400,
                "DUPLICATE_DEVELOPER_NAME",
                f"There's already a field named {developer} on {obj['name']}.",
                ["FullName"],
            )
        try:
            new_field = field_from_metadata(field_name, metadata)
        except ValueError as exc:
            raise sf_error(400, "FIELD_INTEGRITY_EXCEPTION", str(exc), ["Metadata"]) from None
        self.data.add_field(obj["name"], new_field)
        field_id = self.data.ids.new("CustomField")
        self.data.custom_fields[f"{obj['name']}.{field_name}"] = field_id
        self.data.field_metadata[field_id] = metadata
        return Reply(
            201, {"id": field_id, "success": True, "errors": [], "warnings": [], "infos": []}
        )

    def tooling_custom_field_update(self, request: Request, field_id: str, **_extra: Any) -> Reply:
        """Change a custom field's Metadata (label, picklist values); the type stays."""
        full = next((k for k, v in self.data.custom_fields.items() if v == field_id), None)
        if full is None:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        metadata = self._body_object(request).get("Metadata")
        if not isinstance(metadata, dict):
            raise sf_error(
                400,
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [Metadata]",
                ["Metadata"],
            )
        object_name, _, field_name = full.partition(".")
        current = self.data.objects[object_name]["fields"][field_name.lower()]
        merged = {**(self.data.field_metadata.get(field_id) or {}), **metadata}
        if merged.get("type") != (self.data.field_metadata.get(field_id) or {}).get("type"):
            raise sf_error(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                "Cannot change the type of a field through this call",
                ["Metadata"],
            )
        try:
            updated = field_from_metadata(field_name, merged)
        except ValueError as exc:
            raise sf_error(400, "FIELD_INTEGRITY_EXCEPTION", str(exc), ["Metadata"]) from None
        for key in (
            "label",
            "picklistValues",
            "restrictedPicklist",
            "length",
            "precision",
            "scale",
            "externalId",
            "unique",
            "idLookup",
        ):
            current[key] = updated[key]
        self.data.field_metadata[field_id] = merged
        return Reply(204)

    def tooling_query(self, request: Request, version: str, **_extra: Any) -> Reply:
        """``SELECT Id, DeveloperName, TableEnumOrId FROM CustomField [WHERE ...]`` only."""
        text = request.args.get("q", "")
        try:
            parsed = soql.parse(text)
        except soql.SoqlError as exc:
            raise self._soql_error(text, exc) from None
        if parsed.object_name.lower() != "customfield":
            raise self._soql_error(
                text,
                soql.SoqlError(
                    "INVALID_TYPE",
                    f"sObject type '{parsed.object_name}' is not supported.",
                    parsed.object_column,
                ),
            )
        rows = []
        for full, field_id in self.data.custom_fields.items():
            table, _, name = full.partition(".")
            rows.append(
                {
                    "Id": field_id,
                    "DeveloperName": name.removesuffix("__c"),
                    "TableEnumOrId": table,
                    "FullName": full,
                    "Metadata": self.data.field_metadata.get(field_id),
                }
            )
        columns = {
            "id": "Id",
            "developername": "DeveloperName",
            "tableenumorid": "TableEnumOrId",
            "fullname": "FullName",
            "metadata": "Metadata",
        }
        for leaf in soql.conditions(parsed.where):
            if leaf.field.lower() not in columns:
                raise self._soql_error(
                    text,
                    soql.SoqlError(
                        "INVALID_FIELD",
                        f"No such column '{leaf.field}' on entity 'CustomField'.",
                        leaf.column,
                    ),
                )
        matched = [r for r in rows if _matches(parsed.where, _row_getter(r, columns))]
        selected = []
        for name, column in parsed.fields:
            if name.lower() not in columns:
                raise self._soql_error(
                    text,
                    soql.SoqlError(
                        "INVALID_FIELD", f"No such column '{name}' on entity 'CustomField'.", column
                    ),
                )
            selected.append(columns[name.lower()])
        if {"Metadata", "FullName"} & set(selected) and len(matched) > 1:
            raise self._soql_error(
                text,
                soql.SoqlError(
                    "MALFORMED_QUERY",
                    "When retrieving results with Metadata or FullName fields, the query "
                    "qualifications must specify no more than one row for retrieval. Result "
                    f"size: {len(matched)}",
                    1,
                ),
            )
        records = [
            {
                "attributes": {
                    "type": "CustomField",
                    "url": f"/services/data/{version}/tooling/sobjects/CustomField/{r['Id']}",
                },
                **{c: r[c] for c in selected},
            }
            for r in matched
        ]
        return Reply(
            200,
            {
                "size": len(records),
                "totalSize": len(records),
                "done": True,
                "queryLocator": None,
                "entityTypeName": "CustomField",
                "records": records,
            },
        )

    # ------------------------------------------------------------- Bulk API 2.0
    def _job(self, job_id: str) -> BulkJob:
        job = self.data.jobs.get(job_id)
        if job is None:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def _job_info(self, job: BulkJob, version: str) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": job.id,
            "operation": job.operation,
            "object": job.object_name,
            "createdById": self.data.default_owner,
            "createdDate": job.created,
            "systemModstamp": job.modified or job.created,
            "state": job.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version.lstrip("v")),
            "jobType": "V2Ingest",
            "contentUrl": f"services/data/{version}/jobs/ingest/{job.id}/batches",
            "lineEnding": job.line_ending,
            "columnDelimiter": job.column_delimiter,
            "numberRecordsProcessed": len(job.successful) + len(job.failed),
            "numberRecordsFailed": len(job.failed),
            "retries": 0,
            "totalProcessingTime": job.processing_ms,
            "apiActiveProcessingTime": job.processing_ms,
            "apexProcessingTime": 0,
        }
        if job.external_id_field:
            info["externalIdFieldName"] = job.external_id_field
        if job.error_message:
            info["errorMessage"] = job.error_message
        return info

    def bulk2_create_job(self, request: Request, version: str, **_extra: Any) -> Reply:
        body = self._body_object(request)
        operation = body.get("operation")
        if operation not in ("insert", "update", "upsert", "delete", "hardDelete"):
            raise sf_error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        obj = self.data.object_named(str(body.get("object") or ""))
        if obj is None:
            raise sf_error(400, "INVALIDJOB", f"InvalidJob : Invalid object: {body.get('object')}")
        external = body.get("externalIdFieldName")
        if operation == "upsert":
            found = obj["fields"].get(str(external or "").lower())
            if found is None or not (found["externalId"] or found["name"] == "Id"):
                raise sf_error(
                    400,
                    "INVALIDJOB",
                    "InvalidJob : External ID was blank or not an "
                    f"external ID field for {obj['name']}: {external}",
                )
            external = found["name"]
        delimiter = str(body.get("columnDelimiter") or "COMMA")
        if delimiter not in _DELIMITERS:
            raise sf_error(400, "INVALIDJOB", f"InvalidJob : Invalid column delimiter: {delimiter}")
        stamp = now_datetime()
        job = BulkJob(
            id=self.data.ids.new("Bulk2Job"),
            object_name=obj["name"],
            operation=operation,
            external_id_field=external if operation == "upsert" else None,
            column_delimiter=delimiter,
            line_ending=str(body.get("lineEnding") or "LF"),
            created=stamp,
        )
        self.data.jobs[job.id] = job
        return Reply(200, self._job_info(job, version))

    def bulk2_list_jobs(self, request: Request, version: str, **_extra: Any) -> Reply:
        records = [self._job_info(j, version) for j in self.data.jobs.values()]
        return Reply(200, {"done": True, "records": records, "nextRecordsUrl": None})

    def bulk2_get_job(self, request: Request, version: str, job_id: str, **_extra: Any) -> Reply:
        return Reply(200, self._job_info(self._job(job_id), version))

    def bulk2_delete_job(self, request: Request, job_id: str, **_extra: Any) -> Reply:
        job = self._job(job_id)
        if job.state in ("Open", "UploadComplete", "InProgress"):
            raise sf_error(
                400,
                "INVALIDJOBSTATE",
                f"Job is in state {job.state}; only closed jobs can be deleted",
            )
        del self.data.jobs[job_id]
        return Reply(204)

    def bulk2_upload(self, request: Request, job_id: str, **_extra: Any) -> Reply:
        job = self._job(job_id)
        if job.state != "Open":
            raise sf_error(409, "INVALIDJOBSTATE", f"Job is not open for upload: {job.state}")
        if job.uploads:
            raise sf_error(400, "INVALIDJOBSTATE", "Only one upload is allowed per job")
        job.uploads.append(request.get_data(as_text=True))
        return Reply(201, None, content_type="text/plain")

    def bulk2_set_state(self, request: Request, version: str, job_id: str, **_extra: Any) -> Reply:
        job = self._job(job_id)
        state = self._body_object(request).get("state")
        if state == "Aborted":
            if job.state in ("JobComplete", "Failed"):
                raise sf_error(400, "INVALIDJOBSTATE", f"Job is already {job.state}")
            job.state = "Aborted"
        elif state == "UploadComplete":
            if job.state != "Open":
                raise sf_error(400, "INVALIDJOBSTATE", f"Job is not open: {job.state}")
            reply = self._job_info(job, version)
            reply["state"] = "UploadComplete"
            self._process(job)
            return Reply(200, reply)
        else:
            raise sf_error(400, "INVALIDJOBSTATE", f"Invalid state transition to {state}")
        job.modified = now_datetime()
        return Reply(200, self._job_info(job, version))

    def _process(self, job: BulkJob) -> None:
        started = time.perf_counter()
        text = "".join(job.uploads)
        if not text.strip():
            job.state, job.error_message = "Failed", "InvalidBatch : Empty batch"
            return
        reader = csv.reader(
            io.StringIO(text, newline=""), delimiter=_DELIMITERS[job.column_delimiter]
        )
        rows = list(reader)
        header, body_rows = rows[0], [r for r in rows[1:] if r]
        job.columns = header
        fields = self.data.objects[job.object_name]["fields"]
        for column in header:
            if column.lower() not in fields:
                job.state = "Failed"
                job.error_message = f"InvalidBatch : Field name not found : {column}"
                return
        for row in body_rows:
            original = dict(zip(header, row, strict=False))
            try:
                rid, created = self._bulk_row(job, original)
            except FieldError as exc:
                job.failed.append(
                    {
                        "sf__Id": "",
                        "sf__Error": f"{exc.code}:{exc.message}:{','.join(exc.fields)} --",
                        **original,
                    }
                )
            except (UnknownFieldError, JsonTypeError) as exc:
                job.failed.append(
                    {"sf__Id": "", "sf__Error": f"INVALID_FIELD:{exc}: --", **original}
                )
            else:
                job.successful.append(
                    {"sf__Id": rid, "sf__Created": str(created).lower(), **original}
                )
        job.state = "JobComplete"
        job.processing_ms = int((time.perf_counter() - started) * 1000)
        job.modified = now_datetime()

    def _bulk_row(self, job: BulkJob, original: dict[str, str]) -> tuple[str, bool]:
        body: dict[str, Any] = {}
        for column, value in original.items():
            if value == "":
                continue  # an empty cell leaves the field as it is
            body[column] = None if value == "#N/A" else value
        name = job.object_name
        raw_id = next((v for k, v in body.items() if k.lower() == "id"), None)
        if job.operation in ("delete", "hardDelete"):
            rid = self._collection_id(name, raw_id)
            self.data.delete(name, rid)
            return rid, False
        if job.operation == "update":
            rid = self._collection_id(name, raw_id)
            values = self.data.prepare(
                name,
                {k: v for k, v in body.items() if k.lower() != "id"},
                creating=False,
                from_csv=True,
            )
            self.data.update(name, rid, values)
            return rid, False
        if job.operation == "insert":
            values = self.data.prepare(name, body, creating=True, from_csv=True)
            return self.data.insert(name, values), True
        external = job.external_id_field or "Id"
        key: Any = next((v for k, v in body.items() if k.lower() == external.lower()), None)
        if external == "Id":
            if key:
                rid = self._collection_id(name, key)
                values = self.data.prepare(
                    name,
                    {k: v for k, v in body.items() if k.lower() != "id"},
                    creating=False,
                    from_csv=True,
                )
                self.data.update(name, rid, values)
                return rid, False
            values = self.data.prepare(name, body, creating=True, from_csv=True)
            return self.data.insert(name, values), True
        if key in (None, ""):
            raise FieldError("MISSING_ARGUMENT", f"{external} not specified", [external])
        hits = self.data.lookup(name, external, key)
        if len(hits) > 1:
            raise FieldError(
                "DUPLICATE_EXTERNAL_ID",
                f"{external}: more than one record found for external id field: {sorted(hits)}",
                [external],
            )
        if hits:
            rid = next(iter(hits))
            values = self.data.prepare(
                name,
                {k: v for k, v in body.items() if k.lower() != external.lower()},
                creating=False,
                from_csv=True,
            )
            self.data.update(name, rid, values)
            return rid, False
        values = self.data.prepare(name, body, creating=True, from_csv=True)
        return self.data.insert(name, values), True

    def bulk2_results(self, request: Request, job_id: str, kind: str, **_extra: Any) -> Reply:
        job = self._job(job_id)
        if kind not in ("successfulResults", "failedResults", "unprocessedrecords"):
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if job.state not in ("JobComplete", "Failed", "Aborted"):
            raise sf_error(400, "INVALIDJOBSTATE", f"Job is not complete: {job.state}")
        if kind == "successfulResults":
            header, rows = ["sf__Id", "sf__Created", *job.columns], job.successful
        elif kind == "failedResults":
            header, rows = ["sf__Id", "sf__Error", *job.columns], job.failed
        else:
            header, rows = list(job.columns), []
        out = io.StringIO()
        writer = csv.DictWriter(
            out,
            fieldnames=header,
            quoting=csv.QUOTE_ALL,
            lineterminator="\n",
            extrasaction="ignore",
        )
        writer.writeheader()
        writer.writerows(rows)
        return Reply(200, out.getvalue(), content_type="text/csv")


def _failure(exc: FieldError) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [{"statusCode": exc.code, "message": exc.message, "fields": exc.fields}],
    }


def _row_getter(row: dict[str, Any], columns: dict[str, str]) -> Callable[[str], Any]:
    return lambda name: row.get(columns.get(name.lower(), ""))


def _public_key(pem: str) -> Any:
    if "BEGIN CERTIFICATE" in pem:
        return x509.load_pem_x509_certificate(pem.encode()).public_key()
    return pem


def _matches(node: soql.Condition | soql.BoolOp | None, get: Callable[[str], Any]) -> bool:
    """Evaluate a WHERE tree over plain values (strings compared case-insensitively)."""
    if node is None:
        return True
    if isinstance(node, soql.BoolOp):
        if node.op == "and":
            return all(_matches(p, get) for p in node.parts)
        if node.op == "or":
            return any(_matches(p, get) for p in node.parts)
        return not _matches(node.parts[0], get)
    return _compare(get(node.field), node.op, node.value)


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op in ("in", "not in"):
        keys = {_key(v) for v in expected}
        inside = _key(actual) in keys
        return inside if op == "in" else not inside
    if op == "like":
        return isinstance(actual, str) and soql.like_matcher(str(expected))(actual)
    left, right = _key(actual), _key(expected)
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        if op == "<":
            return bool(left < right)
        if op == "<=":
            return bool(left <= right)
        if op == ">":
            return bool(left > right)
        return bool(left >= right)
    except TypeError:
        return False


class QueryEvaluator:
    """Resolve a parsed SOQL query against the data: field names, index use, filter, order."""

    RELATIONS = {
        "account": "AccountId",
        "owner": "OwnerId",
        "who": "WhoId",
        "what": "WhatId",
        "parent": "ParentId",
    }

    def __init__(self, data: SalesforceData, query: soql.Query, text: str) -> None:
        self.data, self.query, self.text = data, query, text
        obj = data.object_named(query.object_name)
        if obj is None:
            raise soql.SoqlError(
                "INVALID_TYPE",
                f"sObject type '{query.object_name}' is not "
                "supported. If you are attempting to use a custom object, be "
                "sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate "
                "names.",
                query.object_column,
            )
        self.obj = obj
        self.object_name: str = obj["name"]

    def _no_column(self, name: str, column: int) -> soql.SoqlError:
        return soql.SoqlError(
            "INVALID_FIELD",
            f"No such column '{name}' on entity '{self.object_name}'. If you are attempting to use "
            "a custom field, be sure to append the '__c' after the custom field name. Please "
            "reference your WSDL or the describe call for the appropriate names.",
            column,
        )

    def resolve(self, name: str, column: int) -> tuple[str, ...]:
        fields = self.obj["fields"]
        if "." not in name:
            found = fields.get(name.lower())
            if found is None:
                raise self._no_column(name, column)
            return (found["name"],)
        relation, _, rest = name.partition(".")
        reference = self.RELATIONS.get(relation.lower())
        ref_field = fields.get(reference.lower()) if reference else None
        if ref_field is None or "." in rest:
            raise self._no_column(name, column)
        target = ref_field["referenceTo"][0]
        target_obj = self.data.objects.get(target)
        found = target_obj["fields"].get(rest.lower()) if target_obj else None
        if found is None:
            raise self._no_column(name, column)
        return (ref_field["relationshipName"], ref_field["name"], target, found["name"])

    def _getter(self, record: dict[str, Any]) -> Callable[[str], Any]:
        def get(name: str) -> Any:
            path = self.paths[name]
            if len(path) == 1:
                return record.get(path[0])
            parent_id = record.get(path[1])
            parent = self.data.records.get(path[2], {}).get(parent_id) if parent_id else None
            return None if parent is None else parent.get(path[3])

        return get

    def _normalize_literals(self, node: soql.Condition | soql.BoolOp | None) -> None:
        for leaf in soql.conditions(node):
            path = self.resolve(leaf.field, leaf.column)
            self.paths[leaf.field] = path
            target_obj = self.obj if len(path) == 1 else self.data.objects[path[2]]
            found = target_obj["fields"][path[-1].lower()]
            values = leaf.value if isinstance(leaf.value, list) else [leaf.value]
            normalized = [self._literal(found, v, leaf.column) for v in values]
            leaf.value = normalized if isinstance(leaf.value, list) else normalized[0]

    def _literal(self, found: Field, value: Any, column: int) -> Any:
        if value is None:
            return None
        if found["type"] in ("id", "reference"):
            text = str(value)
            if not ids.is_well_formed(text):
                raise soql.SoqlError(
                    "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {text}", column
                )
            return ids.normalize(text)
        if found["type"] == "datetime" and isinstance(value, str):
            try:
                return coerce(found, value)
            except (JsonTypeError, FieldError):
                return value
        if found["type"] in ("double", "currency", "percent") and isinstance(value, int):
            return float(value)
        return value

    def _candidates(self, node: soql.Condition | soql.BoolOp | None) -> set[str] | None:
        if node is None:
            return None
        if isinstance(node, soql.Condition):
            path = self.paths[node.field]
            if len(path) != 1 or node.op not in ("=", "in"):
                return None
            values = node.value if node.op == "in" else [node.value]
            if path[0] == "Id":
                return {v for v in values if v in self.data.records[self.object_name]}
            if (self.object_name, path[0]) not in self.data.indexes:
                return None
            found: set[str] = set()
            for value in values:
                if value is not None:
                    found |= self.data.lookup(self.object_name, path[0], value)
            return found
        if node.op == "and":
            known = [c for c in (self._candidates(p) for p in node.parts) if c is not None]
            return min(known, key=len) if known else None
        if node.op == "or":
            parts = [self._candidates(p) for p in node.parts]
            if any(p is None for p in parts):
                return None
            return set().union(*[p for p in parts if p is not None])
        return None

    def run(self) -> tuple[list[tuple[str, ...]], list[str]]:
        self.paths: dict[str, tuple[str, ...]] = {}
        select = [self.resolve(name, column) for name, column in self.query.fields]
        self._normalize_literals(self.query.where)
        order = []
        for name, descending, nulls_last, column in self.query.order_by:
            self.paths[name] = self.resolve(name, column)
            order.append((name, descending, nulls_last))
        store = self.data.records[self.object_name]
        candidates = self._candidates(self.query.where)
        pool: Iterable[str] = (
            store.keys()
            if candidates is None
            else (rid for rid in store if rid in candidates)
            if candidates and len(candidates) > len(store) // 4
            else sorted(candidates or (), key=lambda rid: rid)
        )
        matched = [rid for rid in pool if _matches(self.query.where, self._getter(store[rid]))]
        for name, descending, nulls_last in reversed(order):
            present = [r for r in matched if self._getter(store[r])(name) is not None]
            absent = [r for r in matched if self._getter(store[r])(name) is None]
            present.sort(
                key=lambda r, n=name: _key(self._getter(store[r])(n)),  # type: ignore[misc]
                reverse=descending,
            )
            matched = present + absent if nulls_last else absent + present
        matched = matched[self.query.offset :]
        if self.query.limit is not None:
            matched = matched[: self.query.limit]
        return select, matched
