"""SalesforceAdapter: the CRM adapter on simple-salesforce (REST, Tooling, Bulk API 2.0).

Authentication is cx360's own (``auth.py``): simple-salesforce gets an instance URL and a
session id, and on ``INVALID_SESSION_ID`` the adapter logs in again once and repeats the call.
Writes go through sObject Collections (200 records a call, ``allOrNone: false`` so one bad
record never fails the others) and, above ``bulk_threshold`` records, Bulk API 2.0.

``REQUEST_LIMIT_EXCEEDED`` (Salesforce's 403 instead of 429) is retriable with a long delay:
the 24-hour allocation is rolling, so calls free up over the next hour; the concurrent
long-request limit frees within a minute.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceOperationError
from simple_salesforce.format import format_soql

from connector.batching import chunked
from connector.crm.auth import SalesforceToken
from connector.crm.errors import CrmError, FatalCrmError, RetriableCrmError, call_outcome
from connector.crm.types import (
    AccountRevenue,
    ApiCallCounter,
    CheckFinding,
    CrmRecordRef,
    FieldDescription,
    FieldSpec,
    FollowUpTask,
    PicklistOption,
    RecordKey,
    RecordUpdate,
    Subject,
    WriteOutcome,
    WriteStatus,
    normalize_domain,
    revenue_of_groups,
)

log = logging.getLogger(__name__)

_OBJECTS: dict[Subject, str] = {"contact": "Contact", "account": "Account"}
COLLECTION_LIMIT = 200
_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")
_SOQL_IN_CHARS = 8000  # keep each query's URL well under the 16 KB request-line limit
# Per-record codes that are no single record's fault: the mapping or the org is wrong.
_FIELD_CODES = frozenset(
    {"INVALID_FIELD", "INVALID_FIELD_FOR_INSERT_UPDATE", "NO_SUCH_COLUMN", "INVALID_TYPE"}
)
_PERMISSION_CODES = frozenset({"INSUFFICIENT_ACCESS", "INSUFFICIENT_ACCESS_OR_READONLY"})
_RETRIABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})
#: Accounts per aggregate query: an aggregate query answers at most 2,000 rows and has no next
#: page (SOQL and SOSL Reference, "Aggregate Functions": no queryMore), one row per account.
REVENUE_GROUPS = 2000
#: Query subrequests per Composite request (REST API Developer Guide, "Composite"); the SOQL
#: of 2,000 ids is longer than a URI may be (16,384 bytes, Salesforce Help 000386264), so it
#: goes in the body of a Composite request, which counts as one call.
COMPOSITE_QUERIES = 5
T = TypeVar("T")


def _soql_chunks(values: Sequence[str], size: int = COLLECTION_LIMIT) -> Iterator[list[str]]:
    """Values for ``IN (...)`` lists: at most ``size`` and about 8,000 characters each."""
    chunk: list[str] = []
    length = 0
    for value in values:
        if chunk and (len(chunk) >= size or length + len(value) + 3 > _SOQL_IN_CHARS):
            yield chunk
            chunk, length = [], 0
        chunk.append(value)
        length += len(value) + 3
    if chunk:
        yield chunk


def _first_error(content: Any) -> tuple[str | None, str]:
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        return first.get("errorCode") or first.get("statusCode"), str(first.get("message", ""))
    if isinstance(content, dict):
        return content.get("errorCode") or content.get("error"), str(
            content.get("message") or content.get("error_description") or ""
        )
    return None, str(content or "")[:300]


def translate_salesforce_error(
    exc: Exception, operation: str, retry_after: float | None = None
) -> CrmError:
    """A simple-salesforce / requests exception as one of the project's errors."""
    if isinstance(exc, requests.exceptions.SSLError):
        return FatalCrmError(
            f"Salesforce {operation}: TLS failed (is CX360_CRM_CA_BUNDLE set for this host?)",
            kind="config",
        )
    if isinstance(exc, requests.RequestException):
        return RetriableCrmError(
            f"Salesforce {operation}: connection failed ({type(exc).__name__})",
            code="CONNECTION",
        )
    if isinstance(exc, SalesforceOperationError):
        return FatalCrmError(f"Salesforce {operation}: {exc}", kind="request")
    if not isinstance(exc, SalesforceError):
        return FatalCrmError(f"Salesforce {operation}: {type(exc).__name__}: {exc}")
    status = int(exc.status or 0)
    code, message = _first_error(exc.content)
    text = f"Salesforce {operation}: {status} {code or ''} {message}".replace("  ", " ").strip()
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
        delay = 60.0 if "concurrent" in message.lower() else 3600.0
        return RetriableCrmError(text, retry_after=retry_after or delay, code=code, status=status)
    if status >= 500:
        return RetriableCrmError(text, retry_after=retry_after, code=code, status=status)
    if code in _RETRIABLE_CODES:
        return RetriableCrmError(text, retry_after=retry_after, code=code, status=status)
    if status == 401:
        return FatalCrmError(text, kind="auth", code=code, status=status)
    if status == 403 or code in _PERMISSION_CODES:
        return FatalCrmError(text, kind="permission", code=code, status=status)
    if code in _FIELD_CODES:
        return FatalCrmError(text, kind="field", code=code, status=status, details=exc.content)
    return FatalCrmError(text, kind="request", code=code, status=status, details=exc.content)


def _tooling_tables(obj: str) -> tuple[str, ...]:
    """The Tooling API's ``TableEnumOrId`` of an object's custom fields: Task's are created
    on Activity (as ``prepare`` creates the follow-up key)."""
    return ("Task", "Activity") if obj == "Task" else (obj,)


def _operation_of(url: str) -> str:
    path = url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
    if "oauth2/token" in path:
        return "oauth2.token"
    path = re.sub(r"^services/data/v[\d.]+/", "", path)
    if path.startswith("jobs/ingest"):
        return "bulk2"
    if path.startswith("composite/sobjects"):
        return "composite.sobjects"
    if path.startswith("tooling/"):
        return "tooling"
    if path.startswith("query"):
        return "query"
    if path.endswith("/describe"):
        return "describe"
    return "sobjects" if path.startswith("sobjects") else path.split("/", 1)[0]


#: Text external-id field on Task that holds cx360's follow-up key (see FollowUpTask.key).
FOLLOW_UP_KEY_FIELD = "CX360_Follow_Up_Key__c"


class _CountedTransport(HTTPAdapter):
    """Lets the call counter's ``before_call`` run before every request (rate limiting)."""

    def __init__(self, counter: Callable[[], ApiCallCounter]) -> None:
        super().__init__()
        self._counter = counter

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
             ) -> requests.Response:  # fmt: skip
        operation = _operation_of(request.url or "")
        self._counter().starting(operation)
        try:
            return super().send(request, *args, **kwargs)
        except requests.RequestException:
            self._counter().finished(operation, call_outcome(None))  # no reply arrived
            raise


class SalesforceAdapter:
    """The CRM adapter for Salesforce (Contact and Account)."""

    crm = "salesforce"
    max_batch = COLLECTION_LIMIT

    def __init__(
        self,
        *,
        login: Callable[[requests.Session], SalesforceToken],
        session: requests.Session | None = None,
        api_version: str = "59.0",
        bulk_threshold: int = 2000,
        permission_set: str = "CX360_Integration",
        bulk_poll_seconds: float = 2.0,
        timeout: float = 60.0,
    ) -> None:
        self._login = login
        self.session = session or requests.Session()
        self.session.hooks["response"].append(self._count_response)
        self.session.mount("https://", _CountedTransport(lambda: self.calls))
        self.api_version = api_version
        self.bulk_threshold = bulk_threshold
        self.permission_set = permission_set
        self.bulk_poll_seconds = bulk_poll_seconds
        self.timeout = timeout
        self.calls = ApiCallCounter()
        self._last_headers: dict[str, str] = {}
        self._org_id: str | None = None
        self._user_id: str | None = None
        self._currency: tuple[str, bool] | None = None
        self._sf = self._connect()

    # ------------------------------------------------------------------ calling
    def _count_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        operation = _operation_of(response.url)
        self.calls.add(operation)
        # Salesforce answers its API request limit with 403 REQUEST_LIMIT_EXCEEDED, not 429
        limited = response.status_code == 403 and b"REQUEST_LIMIT_EXCEEDED" in response.content
        self.calls.finished(operation, call_outcome(
            response.status_code, "REQUEST_LIMIT_EXCEEDED" if limited else None))  # fmt: skip
        self._last_headers = dict(response.headers)

    def _connect(self) -> Salesforce:
        try:
            token = self._login(self.session)
        except requests.RequestException as exc:
            raise translate_salesforce_error(exc, "login") from exc
        self._org_id = token.org_id
        self._user_id = token.user_id
        return Salesforce(
            instance_url=token.instance_url,
            session_id=token.access_token,
            session=self.session,
            version=self.api_version,
        )

    def _retry_after(self) -> float | None:
        value = next((v for k, v in self._last_headers.items() if k.lower() == "retry-after"), None)
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    def _call(self, operation: str, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(salesforce, *args)``, logging in again once on an expired session."""
        for attempt in (1, 2):
            try:
                return fn(self._sf, *args)
            except (SalesforceError, SalesforceOperationError, requests.RequestException) as exc:
                error = translate_salesforce_error(exc, operation, self._retry_after())
                if error.code == "INVALID_SESSION_ID" and attempt == 1:
                    log.info("Salesforce session expired; logging in again")
                    self._sf = self._connect()
                    continue
                raise error from exc
        raise AssertionError("unreachable")

    def _restful(self, path: str, method: str = "GET", **kwargs: Any) -> Any:
        return self._call(
            f"{method} {path.split('?')[0]}",
            lambda sf: sf.restful(path, method=method, timeout=self.timeout, **kwargs),
        )

    def _query_all(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Every page of a query; ``include_deleted`` uses ``queryAll`` (deleted records too)."""
        result = self._call(
            "queryAll" if include_deleted else "query",
            lambda sf: sf.query_all(soql, include_deleted=include_deleted, timeout=self.timeout),
        )
        return list(result.get("records", []))

    def object_name(self, subject: Subject) -> str:
        return _OBJECTS[subject]

    # ------------------------------------------------------------------ identity
    def connection_identity(self) -> str:
        """The org id of the integration user, from the login's identity URL (the token
        reply's ``id``, ``/id/<org id>/<user id>``); no extra call."""
        if not self._org_id:
            raise FatalCrmError(
                "the Salesforce token reply names no identity URL (id) to read the org id from",
                kind="auth",
            )
        return f"salesforce:{self._org_id}"

    # ------------------------------------------------------------------ check
    def check(self) -> list[CheckFinding]:
        findings: list[CheckFinding] = []
        for obj, needs in (
            ("Contact", "updateable"),
            ("Account", "updateable"),
            ("Task", "createable"),
        ):
            try:
                described = self._restful(f"sobjects/{obj}/describe")
            except CrmError as exc:
                area = "connectivity" if isinstance(exc, RetriableCrmError) else "permissions"
                findings.append(CheckFinding(area, "error", str(exc)))
                if isinstance(exc, FatalCrmError) and exc.kind == "auth":
                    return findings
                continue
            if not (described or {}).get(needs, True):
                findings.append(
                    CheckFinding(
                        "permissions", "error", f"the integration user cannot {needs[:-4]} {obj}"
                    )
                )
            else:
                findings.append(CheckFinding("permissions", "ok", f"{obj}: {needs}"))
        return findings

    # ------------------------------------------------------------------ fields
    def describe_fields(self, subject: Subject) -> dict[str, FieldDescription]:
        described = self._restful(f"sobjects/{_OBJECTS[subject]}/describe") or {}
        return {
            f["name"]: FieldDescription(
                name=f["name"],
                label=f.get("label", ""),
                type=f.get("type", ""),
                options=tuple(
                    str(p.get("value"))
                    for p in f.get("picklistValues") or []
                    if p.get("active", True)
                ),
                custom=bool(f.get("custom")),
                updateable=bool(f.get("updateable", True)),
            )
            for f in described.get("fields", [])
        }

    def prepare(self, subject: Subject, *, dry_run: bool = False) -> list[str]:
        """For contacts: the Task field holding follow-up keys (idempotent task creation)."""
        if subject != "contact":
            return []
        described = self._restful("sobjects/Task/describe") or {}
        if any(f.get("name") == FOLLOW_UP_KEY_FIELD for f in described.get("fields", [])):
            return []
        if self._custom_fields_of("Task", [FOLLOW_UP_KEY_FIELD]):
            # it exists, hidden by field-level security: granted (and the permission set
            # assigned) by install's grant and assign steps, never created a second time
            if not dry_run:
                self._grant_on("Task", [FOLLOW_UP_KEY_FIELD])
            return []
        made = [f"Task.{FOLLOW_UP_KEY_FIELD} (Text(80), external id, unique)"]
        if dry_run:
            return made
        body = {
            # Task custom fields are defined on the Activity object.
            "FullName": f"Activity.{FOLLOW_UP_KEY_FIELD}",
            "Metadata": {
                "label": "cx360 follow-up key",
                "type": "Text",
                "length": 80,
                "externalId": True,
                "unique": True,
                "caseSensitive": True,
                "description": "Set by cx360 on follow-up tasks so a retried creation never "
                "creates a second task.",
            },
        }
        self._create_custom_field(body)
        self._grant_on("Task", [FOLLOW_UP_KEY_FIELD])
        return made

    def create_field(self, subject: Subject, spec: FieldSpec) -> None:
        body = {"FullName": f"{_OBJECTS[subject]}.{spec.name}", "Metadata": _field_metadata(spec)}
        self._create_custom_field(body)

    def _create_custom_field(self, body: dict[str, Any]) -> None:
        self._call(
            "tooling.CustomField.create",
            lambda sf: sf.toolingexecute("sobjects/CustomField", method="POST", data=body),
        )

    def add_picklist_values(
        self, subject: Subject, spec: FieldSpec, missing: Sequence[PicklistOption]
    ) -> None:
        found = self._tooling_field(_OBJECTS[subject], spec.name)
        if found is None:
            raise FatalCrmError(
                f"{_OBJECTS[subject]}.{spec.name}: not found through the Tooling API; add the "
                f"values {', '.join(o.value for o in missing)} in Setup",
                kind="field",
            )
        metadata = found.get("Metadata") or _field_metadata(spec)
        values = metadata.setdefault("valueSet", {}).setdefault("valueSetDefinition", {})
        values.setdefault("value", []).extend(
            {"fullName": o.value, "label": o.label, "default": False} for o in missing
        )
        record_id = found["Id"]
        self._call(
            "tooling.CustomField.update",
            lambda sf: sf.toolingexecute(
                f"sobjects/CustomField/{record_id}", method="PATCH", data={"Metadata": metadata}
            ),
        )

    def grant_field_access(
        self, subject: Subject, fields: Sequence[str], *, dry_run: bool = False
    ) -> list[str]:
        """Read and edit on ``fields`` for the permission set (created when missing)."""
        return self._grant_on(_OBJECTS[subject], fields, dry_run=dry_run)

    def _permission_set_id(self, *, create: bool) -> str | None:
        """cx360's permission set, created when missing and ``create``."""
        found = self._query_all(
            format_soql("SELECT Id FROM PermissionSet WHERE Name = {}", self.permission_set)
        )
        if found:
            return str(found[0]["Id"])
        if not create:
            return None
        created = self._restful(
            "sobjects/PermissionSet/",
            method="POST",
            json={"Name": self.permission_set, "Label": self.permission_set.replace("_", " ")},
        )
        return str(created["id"])

    def assign_field_access(self, *, dry_run: bool = False) -> list[str]:
        """cx360's permission set assigned to the integration user (PermissionSetAssignment):
        until then the fields it grants stay hidden from that user (field-level security)."""
        what = f"permission set {self.permission_set} to the integration user"
        if not self._user_id:
            raise FatalCrmError(
                "the Salesforce token reply names no identity URL (id) to read the integration "
                f"user from; assign {what} in Setup", kind="auth",
            )  # fmt: skip
        parent = self._permission_set_id(create=not dry_run)
        if parent is not None and self._query_all(format_soql(
            "SELECT Id FROM PermissionSetAssignment WHERE PermissionSetId = {} AND AssigneeId = {}",
            parent, self._user_id,
        )):  # fmt: skip
            return []
        if dry_run:
            return [what]
        try:
            assignment = {"AssigneeId": self._user_id, "PermissionSetId": parent}
            self._restful("sobjects/PermissionSetAssignment/", method="POST", json=assignment)
        except FatalCrmError as exc:
            if exc.kind != "permission":
                raise
            raise FatalCrmError(
                f"cannot assign {what} ({exc.code or exc}): the user cx360 logs in as lacks "
                "the Assign Permission Sets permission. In Setup > Permission Sets > "
                f"{self.permission_set.replace('_', ' ')} > Manage Assignments > Add "
                f"Assignment, add user {self._user_id}; then run cx360 check",
                kind="permission", code=exc.code, status=exc.status,
            ) from exc  # fmt: skip
        return [what]

    def hidden_fields(self, subject: Subject, names: Sequence[str]) -> dict[str, str]:
        """Custom fields among ``names`` that the Tooling API finds on the object although
        describe left them out: field-level security hides them from the integration user.
        Each with its Metadata type (one more Tooling query per hidden field: the Tooling API
        gives ``Metadata`` only for one row at a time)."""
        obj = _OBJECTS[subject]
        hidden: dict[str, str] = {}
        for name in sorted(self._custom_fields_of(obj, names)):
            found = self._tooling_field(obj, name) or {}
            hidden[name] = str((found.get("Metadata") or {}).get("type") or "")
        return hidden

    def _tooling_field(self, obj: str, name: str) -> dict[str, Any] | None:
        """One custom field's Tooling API row (``Id`` and ``Metadata``), or None when the
        Tooling API does not find it on the object."""
        soql = format_soql(
            "SELECT Id, Metadata FROM CustomField WHERE TableEnumOrId IN {} AND DeveloperName = {}",
            list(_tooling_tables(obj)), name.removesuffix("__c"),
        )  # fmt: skip
        records = self._tooling_query(soql)
        return records[0] if records else None

    def _tooling_query(self, soql: str) -> list[dict[str, Any]]:
        found = self._call(
            "tooling.query",
            lambda sf: sf.toolingexecute("query/?q=" + urllib.parse.quote(soql)),
        )
        return list((found or {}).get("records") or [])

    def _custom_fields_of(self, obj: str, names: Sequence[str]) -> set[str]:
        wanted = {n.removesuffix("__c").lower(): n for n in names if n.endswith("__c")}
        if not wanted:
            return set()
        soql = format_soql(
            "SELECT DeveloperName FROM CustomField WHERE TableEnumOrId IN {}",
            list(_tooling_tables(obj)),
        )
        return {
            wanted[name]
            for record in self._tooling_query(soql)
            if (name := str(record.get("DeveloperName") or "").lower()) in wanted
        }

    def _grant_on(self, obj: str, fields: Sequence[str], *, dry_run: bool = False) -> list[str]:
        """Read and edit on ``obj``'s ``fields`` in cx360's permission set: FieldPermissions
        created where missing, and set to read and edit where someone took either away."""
        parent = self._permission_set_id(create=not dry_run)
        if parent is None:
            return [f"{obj}.{name}" for name in fields]
        soql = format_soql(
            "SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions "
            "WHERE ParentId = {} AND SobjectType = {}", parent, obj,
        )  # fmt: skip
        rows = {str(r["Field"]).lower(): r for r in self._query_all(soql)}
        to_grant = []
        for name in fields:
            row = rows.get(f"{obj}.{name}".lower())
            if row is None or not (row.get("PermissionsRead") and row.get("PermissionsEdit")):
                to_grant.append((name, None if row is None else str(row["Id"])))
        if dry_run:
            return [f"{obj}.{name}" for name, _ in to_grant]
        for chunk in chunked(to_grant, COLLECTION_LIMIT):
            created = [
                {"attributes": {"type": "FieldPermissions"}, "ParentId": parent,
                 "SobjectType": obj, "Field": f"{obj}.{name}", "PermissionsRead": True,
                 "PermissionsEdit": True}
                for name, row_id in chunk if row_id is None
            ]  # fmt: skip
            changed = [
                {"attributes": {"type": "FieldPermissions"}, "Id": row_id,
                 "PermissionsRead": True, "PermissionsEdit": True}
                for _, row_id in chunk if row_id is not None
            ]  # fmt: skip
            names = [n for n, r in chunk if r is None] + [n for n, r in chunk if r is not None]
            results: list[Any] = []
            for method, records in (("POST", created), ("PATCH", changed)):
                if records:
                    results += (
                        self._restful(
                            "composite/sobjects",
                            method=method,
                            json={"allOrNone": False, "records": records},
                        )
                        or []
                    )
            for name, result in zip(names, results, strict=False):
                if not result.get("success"):
                    code, message = _first_error(result.get("errors"))
                    raise FatalCrmError(
                        f"cannot grant access to {obj}.{name}: {code} {message}", kind="permission"
                    )
        return [f"{obj}.{name}" for name, _ in to_grant]

    # ------------------------------------------------------------------ resolve
    def resolve_contacts(self, keys: Iterable[RecordKey]) -> dict[RecordKey, CrmRecordRef]:
        keys = list(keys)
        select = "SELECT Id, Email, AccountId, OwnerId FROM Contact WHERE"
        found = self._resolve_ids("Contact", select, keys)
        pending = sorted({k.normalized_email or "" for k in keys if k not in found} - {""})
        by_email: dict[str, CrmRecordRef] = {}
        for chunk in _soql_chunks(pending):
            for record in self._query_all(format_soql(select + " Email IN {}", chunk)):
                found_email = str(record.get("Email") or "").strip().lower()
                by_email.setdefault(found_email, _ref(record))
        for key in keys:
            email = key.normalized_email
            if key not in found and email and email in by_email:
                found[key] = by_email[email]
        return found

    def resolve_accounts(self, keys: Iterable[RecordKey]) -> dict[RecordKey, CrmRecordRef]:
        keys = list(keys)
        select = "SELECT Id, Website, OwnerId FROM Account WHERE"
        found = self._resolve_ids("Account", select, keys)
        pending = sorted({k.normalized_domain or "" for k in keys if k not in found} - {""})
        by_domain: dict[str, CrmRecordRef] = {}
        for chunk in _soql_chunks(pending, 50):
            condition = " OR ".join(format_soql("Website LIKE {}", f"%{d}%") for d in chunk)
            for record in self._query_all(f"{select} {condition}"):
                domain = normalize_domain(str(record.get("Website") or ""))
                if domain:
                    by_domain.setdefault(domain, _ref(record))
        for key in keys:
            domain = key.normalized_domain
            if key not in found and domain and domain in by_domain:
                found[key] = by_domain[domain]
        return found

    def _resolve_ids(
        self, obj: str, select: str, keys: Sequence[RecordKey]
    ) -> dict[RecordKey, CrmRecordRef]:
        ids = sorted({k.crm_id for k in keys if k.crm_id and _ID.match(k.crm_id)})
        refs: dict[str, CrmRecordRef] = {}
        for chunk in _soql_chunks(ids):
            for record in self._query_all(format_soql(select + " Id IN {}", chunk)):
                ref = _ref(record)
                refs[ref.crm_id] = ref
                refs[ref.crm_id[:15]] = ref
        for merged_away, master in self._merge_survivors(obj, [i for i in ids if i not in refs]):
            survivor = self._resolve_ids(obj, select, [RecordKey(crm_id=master)])
            if survivor:
                refs[merged_away] = refs[merged_away[:15]] = next(iter(survivor.values()))
        return {k: refs[k.crm_id] for k in keys if k.crm_id and k.crm_id in refs}

    def _merge_survivors(self, obj: str, ids: Sequence[str]) -> list[tuple[str, str]]:
        """(merged-away id, the record it was merged into) for those of ``ids`` deleted by a
        merge: "If this record was deleted as the result of a merge, this field contains the
        ID of the record that remains" (Object Reference, Contact/Account ``MasterRecordId``),
        read with ``queryAll``, which "will return records that have been deleted because of
        a merge or delete" (REST API Developer Guide, "QueryAll")."""
        found: list[tuple[str, str]] = []
        for chunk in _soql_chunks(list(ids)):
            soql = format_soql(
                f"SELECT Id, MasterRecordId FROM {obj} WHERE Id IN {{}} AND IsDeleted = true",
                chunk,
            )
            for record in self._query_all(soql, include_deleted=True):
                if record.get("MasterRecordId"):
                    found.append((str(record["Id"]), str(record["MasterRecordId"])))
        return found

    # ------------------------------------------------------------------ write
    def write(self, subject: Subject, updates: Sequence[RecordUpdate]) -> list[WriteOutcome]:
        updates = [u for u in updates if u.values]
        if len(updates) > self.bulk_threshold:
            return self._write_bulk(subject, updates)
        outcomes: list[WriteOutcome] = []
        obj = _OBJECTS[subject]
        for chunk in chunked(updates, COLLECTION_LIMIT):
            records = [{"attributes": {"type": obj}, "id": u.crm_id, **u.values} for u in chunk]
            results = self._restful(
                "composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records}
            )
            outcomes.extend(_collection_outcomes(obj, [u.crm_id for u in chunk], results or []))
        return outcomes

    def _write_bulk(self, subject: Subject, updates: Sequence[RecordUpdate]) -> list[WriteOutcome]:
        obj = _OBJECTS[subject]
        rows = [
            {"Id": u.crm_id, **{k: _csv_value(v) for k, v in u.values.items()}} for u in updates
        ]
        jobs = self._call(
            "bulk2.update",
            lambda sf: getattr(sf.bulk2, obj).update(records=rows, wait=self.bulk_poll_seconds),
        )
        failed: dict[str, tuple[str, str]] = {}
        for job in jobs:
            if not int(job.get("numberRecordsFailed", 0)):
                continue
            job_id = job["job_id"]
            text: str = self._call(
                "bulk2.failedResults",
                lambda sf, job: getattr(sf.bulk2, obj).get_failed_records(job),
                job_id,
            )
            for row in csv.DictReader(io.StringIO(text)):
                code, _, message = str(row.get("sf__Error") or "").partition(":")
                failed[str(row.get("sf__Id") or row.get("Id") or "")] = (code, message.strip())
        outcomes = []
        for update in updates:
            hit = failed.get(update.crm_id) or failed.get(update.crm_id[:15])
            if hit is None:
                outcomes.append(WriteOutcome(update.crm_id, "written"))
            elif hit[0] in _FIELD_CODES:
                raise FatalCrmError(f"{obj}: {hit[0]} {hit[1]}", kind="field", code=hit[0])
            else:
                status: WriteStatus = "retriable" if hit[0] in _RETRIABLE_CODES else "rejected"
                outcomes.append(WriteOutcome(update.crm_id, status, hit[1], hit[0]))
        return outcomes

    # ------------------------------------------------------------------ tasks
    def create_tasks(self, tasks: Sequence[FollowUpTask]) -> list[WriteOutcome]:
        outcomes: list[WriteOutcome] = []
        for chunk in chunked(list(tasks), COLLECTION_LIMIT):
            records = []
            for task in chunk:
                record: dict[str, Any] = {
                    "attributes": {"type": "Task"},
                    "Subject": task.title,
                    "ActivityDate": task.due.isoformat(),
                    "Status": "Not Started",
                    "Priority": task.priority,
                    "Description": task.body,
                    ("WhoId" if task.subject == "contact" else "WhatId"): task.record_id,
                }
                if task.owner_id:
                    record["OwnerId"] = task.owner_id
                records.append(record)
            if all(t.key for t in chunk):
                # Upsert on the follow-up key: a repeated creation updates, never duplicates.
                for record, task in zip(records, chunk, strict=True):
                    record[FOLLOW_UP_KEY_FIELD] = task.key
                results = self._restful(
                    f"composite/sobjects/Task/{FOLLOW_UP_KEY_FIELD}",
                    method="PATCH",
                    json={"allOrNone": False, "records": records},
                )
            else:
                results = self._restful(
                    "composite/sobjects",
                    method="POST",
                    json={"allOrNone": False, "records": records},
                )
            outcomes.extend(
                _collection_outcomes("Task", [t.record_id for t in chunk], results or [], True)
            )
        return outcomes

    def archive_tasks(self, task_ids: Sequence[str]) -> None:
        """Delete these tasks (sObject Collections delete, ``allOrNone`` false)."""
        for chunk in chunked(list(task_ids), COLLECTION_LIMIT):
            self._restful(
                "composite/sobjects?allOrNone=false&ids=" + ",".join(chunk), method="DELETE"
            )

    def find_tasks(self, keys: Sequence[str]) -> dict[str, str]:
        """The tasks carrying these follow-up keys: key -> task id (the oldest when a key is
        on several, which the external-id upsert prevents)."""
        found: dict[str, str] = {}
        for chunk in _soql_chunks(sorted(set(keys))):
            soql = format_soql(
                f"SELECT Id, {FOLLOW_UP_KEY_FIELD} FROM Task WHERE {FOLLOW_UP_KEY_FIELD} IN {{}} "
                "ORDER BY CreatedDate",
                chunk,
            )
            for record in self._query_all(soql):
                found.setdefault(str(record[FOLLOW_UP_KEY_FIELD]), str(record["Id"]))
        return found

    # ------------------------------------------------------------------ read
    def read(
        self, subject: Subject, crm_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        obj = _OBJECTS[subject]
        columns = ", ".join(["Id", *[f for f in fields if f != "Id"]])
        found: dict[str, dict[str, Any]] = {}
        for chunk in _soql_chunks([i for i in crm_ids if _ID.match(i)]):
            soql = format_soql(f"SELECT {columns} FROM {obj} WHERE Id IN {{}}", chunk)
            for record in self._query_all(soql):
                found[record["Id"]] = {f: record.get(f) for f in fields}
        return found

    # ------------------------------------------------------------------ revenue
    #: Accounts per read_account_revenue call the revenue refresh should ask for: five
    #: aggregate queries of 2,000 accounts go in one Composite request.
    revenue_batch = REVENUE_GROUPS * COMPOSITE_QUERIES

    def _org_currency(self) -> tuple[str, bool]:
        """(corporate currency, multi-currency org?). A multi-currency org has
        ``CurrencyIsoCode`` on Opportunity and lists its currencies in ``CurrencyType``, one
        ``IsCorporate``; a single-currency org's currency is Organization's
        ``DefaultCurrencyIsoCode`` (Object Reference: Opportunity, CurrencyType, Organization)."""
        if self._currency is None:
            described = self._restful("sobjects/Opportunity/describe") or {}
            names = {str(f.get("name")) for f in described.get("fields", [])}
            multi = "CurrencyIsoCode" in names
            soql = (
                "SELECT IsoCode FROM CurrencyType WHERE IsCorporate = true"
                if multi
                else "SELECT DefaultCurrencyIsoCode FROM Organization"
            )
            rows = self._query_all(soql)
            column = "IsoCode" if multi else "DefaultCurrencyIsoCode"
            code = str((rows[0] if rows else {}).get(column) or "")
            if not code:
                raise FatalCrmError(
                    f"Salesforce named no {'corporate' if multi else 'org'} currency ({soql})",
                    kind="request",
                )
            self._currency = (code, multi)
        return self._currency

    def _composite_queries(self, queries: Sequence[str]) -> list[dict[str, Any]]:
        """Each query's result, up to ``COMPOSITE_QUERIES`` per Composite request."""
        results: list[dict[str, Any]] = []
        for part in chunked(list(queries), COMPOSITE_QUERIES):
            body = {
                "allOrNone": False,
                "compositeRequest": [
                    {
                        "method": "GET",
                        "url": f"/services/data/v{self.api_version}/query?"
                        + urllib.parse.urlencode({"q": soql}),
                        "referenceId": f"revenue{i}",
                    }
                    for i, soql in enumerate(part)
                ],
            }
            reply = self._restful("composite", method="POST", data=json.dumps(body)) or {}
            for answer in reply.get("compositeResponse", []):
                status = int(answer.get("httpStatusCode") or 0)
                if status != 200:
                    error = (answer.get("body") or [{}])[0]
                    raise FatalCrmError(
                        f"Salesforce refused the revenue query: {error.get('errorCode')}: "
                        f"{error.get('message')}",
                        kind="request",
                        code=error.get("errorCode"),
                        status=status,
                        details=answer.get("body"),
                    )
                results.append(answer["body"])
        return results

    def read_account_revenue(
        self, crm_account_ids: Sequence[str], window_days: int
    ) -> dict[str, AccountRevenue]:
        """Won opportunities (``IsWon``) closed in the last ``window_days`` days
        (``LAST_N_DAYS:n``), summed per Account by one aggregate query per 2,000 accounts,
        five queries per Composite request. Every asked account gets an entry: 0 in the
        corporate currency without a won deal."""
        if window_days < 1:
            raise ValueError(f"window_days must be at least 1, not {window_days}")
        ids = list(dict.fromkeys(crm_account_ids))
        bad = [i for i in ids if not _ID.match(i)]
        if bad:
            raise ValueError(f"not Salesforce Account ids: {', '.join(map(repr, bad[:5]))}")
        if not ids:
            return {}
        corporate, multi = self._org_currency()
        queries = [_revenue_soql(part, window_days, multi) for part in chunked(ids, REVENUE_GROUPS)]
        rows: dict[str, dict[str, Any]] = {}
        for result in self._composite_queries(queries):
            for row in result.get("records", []):
                rows[str(row["AccountId"])[:15]] = row
        return {
            crm_id: _revenue_row(crm_id, rows[crm_id[:15]], corporate, multi)
            if crm_id[:15] in rows
            else AccountRevenue(crm_id, Decimal(0), corporate, 0)
            for crm_id in ids
        }


def _revenue_soql(ids: Sequence[str], window_days: int, multi_currency: bool) -> str:
    """The aggregate query of the accounts' won opportunities closed in the window. In a
    multi-currency org the currencies of each account's deals come along (how many, the first
    and last) so that one account's deals in several currencies are never one sum."""
    currencies = (
        ", COUNT_DISTINCT(CurrencyIsoCode) currencies, MIN(CurrencyIsoCode) first_currency,"
        " MAX(CurrencyIsoCode) last_currency"
        if multi_currency
        else ""
    )
    return format_soql(
        f"SELECT AccountId, SUM(Amount) total, COUNT(Id) deals{currencies} FROM Opportunity"
        f" WHERE IsWon = true AND CloseDate = LAST_N_DAYS:{int(window_days)}"
        " AND AccountId IN {} GROUP BY AccountId",
        list(ids),
    )


def _revenue_row(
    crm_account_id: str, row: dict[str, Any], corporate: str, multi_currency: bool
) -> AccountRevenue:
    """One AggregateResult row as the account's revenue. Salesforce answers SUM() of a
    currency field with GROUP BY in the corporate currency (SOQL and SOSL Reference,
    "convertCurrency()"): one currency's deals are that converted sum; deals in several
    currencies give no amount."""
    deals = int(row.get("deals") or 0)
    total = Decimal(str(row["total"])) if row.get("total") is not None else Decimal(0)
    if multi_currency and int(row.get("currencies") or 0) > 1:
        first, last = str(row.get("first_currency")), str(row.get("last_currency"))
        sums: dict[str | None, tuple[Decimal, int]] = {
            first: (Decimal(0), 0),
            last: (Decimal(0), deals),
        }
        named = revenue_of_groups(crm_account_id, sums)
        extra = int(row["currencies"]) - 2
        note = named.note if not extra else f"{named.note} (and {extra} more currencies)"
        return AccountRevenue(crm_account_id, None, None, deals, note)
    note = None
    if multi_currency and row.get("first_currency") not in (None, corporate):
        note = f"converted by Salesforce from {row['first_currency']} at the org's rates"
    return AccountRevenue(crm_account_id, total, corporate, deals, note)


def _ref(record: dict[str, Any]) -> CrmRecordRef:
    return CrmRecordRef(
        crm_id=str(record["Id"]),
        account_crm_id=record.get("AccountId") or None,
        owner_id=record.get("OwnerId") or None,
    )


def _collection_outcomes(
    obj: str, ids: Sequence[str], results: Sequence[dict[str, Any]], created: bool = False
) -> list[WriteOutcome]:
    outcomes: list[WriteOutcome] = []
    for crm_id, result in zip(ids, results, strict=False):
        if result.get("success"):
            new_id = str(result.get("id")) if created else None
            outcomes.append(WriteOutcome(crm_id, "written", created_id=new_id))
            continue
        code, message = _first_error(result.get("errors"))
        if code in _FIELD_CODES:
            raise FatalCrmError(f"{obj}: {code} {message}", kind="field", code=code)
        if code in _PERMISSION_CODES:
            raise FatalCrmError(f"{obj}: {code} {message}", kind="permission", code=code)
        status: WriteStatus = "retriable" if code in _RETRIABLE_CODES else "rejected"
        outcomes.append(WriteOutcome(crm_id, status, message, code))
    for crm_id in ids[len(results) :]:
        outcomes.append(WriteOutcome(crm_id, "rejected", "no result from Salesforce", "UNKNOWN"))
    return outcomes


def _csv_value(value: Any) -> str:
    if value is None:
        return "#N/A"  # Bulk API 2.0's null (erasure); JSON null clears in collections
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _field_metadata(spec: FieldSpec) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "label": spec.label,
        "type": spec.type,
        "description": spec.description,
        "inlineHelpText": spec.description[:510],
    }
    if spec.type in {"Number", "Percent"}:
        metadata["precision"] = spec.precision
        metadata["scale"] = spec.scale
    elif spec.type == "Text":
        metadata["length"] = spec.length
    elif spec.type == "LongTextArea":
        metadata["length"] = spec.length
        metadata["visibleLines"] = 3
    elif spec.type == "Picklist":
        metadata["valueSet"] = {
            "restricted": True,
            "valueSetDefinition": {
                "sorted": False,
                "value": [
                    {"fullName": o.value, "label": o.label, "default": False} for o in spec.options
                ],
            },
        }
    return metadata
