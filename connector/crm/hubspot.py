"""HubSpotAdapter: the CRM adapter on hubspot-api-client (CRM v3 objects and properties).

Every call goes through ``_call``, which counts it, asks for the raw reply (parsed here, so an
unexpected reply shape never breaks a generated model) and turns client exceptions into the
project's errors. HubSpot answers a batch partly failed with 207 and an ``errors`` list; the
client raises for neither, so the results are checked here.
"""

from __future__ import annotations

import importlib
import json
import logging
import time as time_module
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import urllib3
from hubspot import HubSpot
from urllib3.util.retry import Retry

from connector.batching import chunked
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
    revenue_of_groups,
)

log = logging.getLogger(__name__)

_OBJECTS: dict[Subject, str] = {"contact": "contacts", "account": "companies"}
_API_EXCEPTIONS: tuple[type[Exception], ...] = tuple(
    importlib.import_module(f"hubspot.{package}.exceptions").ApiException
    for package in (
        "crm.contacts",
        "crm.companies",
        "crm.deals",
        "crm.properties",
        "crm.objects.tasks",
        "crm.associations.v4",
    )
)
_CLIENT_EXCEPTIONS: tuple[type[Exception], ...] = tuple(
    importlib.import_module(f"hubspot.{package}.exceptions").OpenApiException
    for package in (
        "crm.contacts", "crm.companies", "crm.deals", "crm.properties", "crm.objects.tasks"
    )
)  # fmt: skip
# Association type "task to contact" / "task to company" (HUBSPOT_DEFINED).
_TASK_ASSOCIATION = {"contact": 204, "account": 192}
#: Tasks property holding cx360's follow-up key (see FollowUpTask.key); a plain property,
#: since HubSpot documents unique-value properties only for contacts, companies, deals,
#: tickets and custom objects.
FOLLOW_UP_KEY_PROPERTY = "cx360_follow_up_key"
ARCHIVED_FOLLOW_UP_KEY = (
    f"tasks.{FOLLOW_UP_KEY_PROPERTY} is archived in HubSpot: restore it (Settings > Properties, "
    "object Tasks, tab Archived properties, Restore), then run cx360 install again"
)
BATCH_LIMIT = 100
#: The scopes cx360 needs and what for (HubSpot's scopes reference; the tasks API needs the
#: contacts' object scopes: developers.hubspot.com/docs/api-reference/latest/crm/activities/
#: tasks/guide, "Scope requirements").
REQUIRED_SCOPES = {
    "crm.objects.contacts.read": "find contacts, look follow-up tasks up",
    "crm.objects.contacts.write": "write contact scores, create follow-up tasks",
    "crm.objects.companies.read": "find companies",
    "crm.objects.companies.write": "write company scores",
    "crm.objects.deals.read": "read won deals for the revenue view",
    "crm.schemas.contacts.read": "read contact and task properties",
    "crm.schemas.contacts.write": "create cx360's contact and task properties",
    "crm.schemas.companies.read": "read company properties",
    "crm.schemas.companies.write": "create cx360's company properties",
}
_SEARCH_APIS: dict[str, Callable[[HubSpot], Any]] = {
    "companies": lambda client: client.crm.companies.search_api,
    "tasks": lambda client: client.crm.objects.tasks.search_api,
    "deals": lambda client: client.crm.deals.search_api,
}
#: Times one page of a long search is asked again after the search endpoints' per-second
#: limit answered 429 (waiting the Retry-After), so a portal-wide read is not started over.
SEARCH_PAGE_RETRIES = 3
#: The ids merged into a record (";"-separated), read to follow a merged-away id.
MERGED_IDS = "hs_merged_object_ids"
#: CRM search: at most 200 results a page and 10,000 a query (developers.hubspot.com/docs/api/
#: crm/search, "Limitations"), so won deals are read in pages keyed by hs_object_id.
SEARCH_PAGE = 200
#: Associations batch read: at most 1,000 ids (developers.hubspot.com/changelog/
#: bug-fix-batch-read-limit-for-hubspot-associations-api).
ASSOCIATION_READ_LIMIT = 1000
#: deal -> company "Primary" association type (HUBSPOT_DEFINED).
PRIMARY_DEAL_COMPANY = 5
T = TypeVar("T")


def _json(data: bytes | str | None) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for key, value in dict(headers).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _retry_after(headers: Any, body: Any) -> float | None:
    value = _header(headers, "Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    policy = body.get("policyName") if isinstance(body, dict) else None
    interval = _header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
    if policy == "DAILY":
        # The daily allowance resets at midnight; an hour's wait is a sane poll interval.
        return 3600.0
    if policy == "SECONDLY":
        # the search endpoints' own limit counts requests per second
        return 1.0
    if interval and interval.isdigit():
        return int(interval) / 1000.0
    return None


def translate_api_exception(exc: Exception, operation: str) -> CrmError:
    """A hubspot-api-client ``ApiException`` as one of the project's errors."""
    status = int(getattr(exc, "status", 0) or 0)
    body = _json(getattr(exc, "body", None))
    headers = getattr(exc, "headers", None)
    category = body.get("category") if isinstance(body, dict) else None
    message = (body.get("message") if isinstance(body, dict) else None) or str(
        getattr(exc, "reason", "") or ""
    )
    text = f"HubSpot {operation}: {status} {category or ''} {message}".replace("  ", " ").strip()
    if status == 0:
        if "SSLError" in message or "CERTIFICATE" in message.upper():
            return FatalCrmError(
                f"{text} (is CX360_CRM_CA_BUNDLE set for this host?)", kind="config"
            )
        return RetriableCrmError(text, code="CONNECTION")
    if status == 429:
        return RetriableCrmError(
            text, retry_after=_retry_after(headers, body), code="RATE_LIMIT", status=status
        )
    if status >= 500:
        return RetriableCrmError(
            text, retry_after=_retry_after(headers, body), status=status, details=body
        )
    if status == 401:
        return FatalCrmError(text, kind="auth", code=category, status=status)
    if status == 403:
        needed = sorted(
            {
                str(scope)
                for error in (body.get("errors") or [] if isinstance(body, dict) else [])
                if isinstance(error, dict)
                for scope in (error.get("context") or {}).get("requiredGranularScopes") or []
            }
        )
        if needed:
            text += f" (the token needs the scope {' or '.join(needed)})"
        return FatalCrmError(text, kind="permission", code=category, status=status)
    return FatalCrmError(text, kind="request", code=category, status=status, details=body)


class HubSpotAdapter:
    """The CRM adapter for HubSpot (contacts and companies)."""

    crm = "hubspot"
    max_batch = BATCH_LIMIT

    def __init__(
        self,
        *,
        base_url: str,
        token_provider: Callable[[], str],
        ca_bundle: str | None = None,
        can_refresh: bool = False,
        property_group: tuple[str, str] = ("cx360", "cx360 Customer 360"),
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token_provider = token_provider
        self._ca_bundle = ca_bundle or None
        self._can_refresh = can_refresh
        self._timeout = timeout
        self.property_group = property_group
        self.calls = ApiCallCounter()
        self._batch_apis: dict[tuple[int, str], Any] = {}
        self._identity: str | None = None
        self._details: dict[str, Any] | None = None
        self._client = self._new_client(token_provider())

    def _new_client(self, token: str) -> HubSpot:
        # No retries inside the client: the pipeline retries with backoff and a shared budget.
        return HubSpot(
            access_token=token,
            host=self.base_url,
            ssl_ca_cert=self._ca_bundle,
            retry=Retry(total=0, raise_on_status=False),
        )

    def object_name(self, subject: Subject) -> str:
        return _OBJECTS[subject]

    # ------------------------------------------------------------------ calling
    def _call(
        self, operation: str, fn: Callable[..., Any], *args: Any, refresh: bool = True
    ) -> Any:
        """Run ``fn(client, *args)``; returns the parsed JSON reply (None when empty)."""
        self.calls.starting(operation)
        self.calls.add(operation)
        try:
            reply = fn(self._client, *args)
        except _API_EXCEPTIONS as exc:
            error = translate_api_exception(exc, operation)
            self.calls.finished(operation, call_outcome(error.status, error.code))
            if error.status == 401 and refresh and self._can_refresh:
                self._client = self._new_client(self._token_provider())
                return self._call(operation, fn, *args, refresh=False)
            raise error from exc
        except urllib3.exceptions.HTTPError as exc:
            self.calls.finished(operation, call_outcome(None))
            raise RetriableCrmError(
                f"HubSpot {operation}: connection failed ({type(exc).__name__})",
                code="CONNECTION",
            ) from exc
        except _CLIENT_EXCEPTIONS as exc:  # the library refused the request before sending it
            raise FatalCrmError(f"HubSpot {operation}: {exc}", kind="request") from exc
        self.calls.finished(operation, "ok")
        return _json(getattr(reply, "data", None))

    def _raw(self) -> dict[str, Any]:
        return {"_preload_content": False, "_request_timeout": self._timeout}

    def _batch_api(self, client: HubSpot, subject: Subject) -> Any:
        """The object's batch API, kept per client.

        The library builds a new API client, with its own connection pool, on every attribute
        access; keeping one per object reuses the TLS connection for every batch call.
        """
        key = (id(client), subject)
        api = self._batch_apis.get(key)
        if api is None:
            self._batch_apis = {k: v for k, v in self._batch_apis.items() if k[0] == id(client)}
            api = self._batch_apis[key] = getattr(client.crm, _OBJECTS[subject]).batch_api
        return api

    # ------------------------------------------------------------------ identity
    def connection_identity(self) -> str:
        """The portal id of the account the token belongs to, from HubSpot's account
        information API (``GET /account-info/v3/details`` answers ``portalId``:
        developers.hubspot.com/docs/api-reference/latest/account/account-information/
        get-account-details). The client library has no class for it, so the call goes
        through the contacts API's HTTP client (same host, token and CA)."""
        if self._identity is None:
            body = self._account_details()
            if not body.get("portalId"):
                raise FatalCrmError("HubSpot account details name no portalId", kind="request")
            self._identity = f"hubspot:{body['portalId']}"
        return self._identity

    def _account_details(self) -> dict[str, Any]:
        """``GET /account-info/v3/details`` (portal id, ``companyCurrency``,
        ``additionalCurrencies``), read once per adapter."""
        if self._details is None:

            def details(client: HubSpot) -> Any:
                api_client = client.crm.contacts.basic_api.api_client
                return api_client.call_api(
                    "/account-info/v3/details", "GET", header_params={"Accept": "application/json"},
                    auth_settings=["oauth2"], _return_http_data_only=True, **self._raw(),
                )  # fmt: skip

            self._details = dict(self._call("account_info.details", details) or {})
        return self._details

    # ------------------------------------------------------------------ check
    def check(self) -> list[CheckFinding]:
        """The token's scopes against what cx360 needs (read as HubSpot documents it for the
        token's kind), then one read of each object and its properties."""
        scopes = self.token_scopes()
        missing = [scope for scope in REQUIRED_SCOPES if scope not in scopes]
        if missing:
            needed_for = "; ".join(f"{s}: {REQUIRED_SCOPES[s]}" for s in missing)
            setting = "HUBSPOT_REFRESH_TOKEN" if self._can_refresh else "HUBSPOT_ACCESS_TOKEN"
            return [
                CheckFinding(
                    "permissions",
                    "error",
                    f"{setting}: the token lacks the scope(s) {', '.join(missing)} "
                    f"({needed_for}); tick them on the HubSpot app's Scopes tab",
                )
            ]
        findings = [CheckFinding("permissions", "ok", "the token holds every scope cx360 needs")]
        for subject, obj in _OBJECTS.items():
            try:
                self._call(
                    f"{obj}.page",
                    lambda c, o: getattr(c.crm, o).basic_api.get_page(limit=1, **self._raw()),
                    obj,
                )
                self._call(
                    f"{obj}.properties",
                    lambda c, o: c.crm.properties.groups_api.get_all(o, **self._raw()),
                    obj,
                )
            except CrmError as exc:
                area = "connectivity" if isinstance(exc, RetriableCrmError) else "permissions"
                findings.append(CheckFinding(area, "error", str(exc), subject=subject))
                continue
            findings.append(
                CheckFinding("permissions", "ok", f"can read {obj} and their properties")
            )
        return findings

    def token_scopes(self) -> set[str]:
        """The scopes the token holds. A private app's token: ``POST /oauth/v2/private-apps/
        get/access-token-info`` with ``{"tokenKey": …}`` (developers.hubspot.com/docs/api/
        private-apps); an OAuth access token: ``GET /oauth/v1/access-tokens/{token}``
        (developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/
        get-oauth-token-metadata). A refused token raises (``kind="auth"``)."""
        token = self._token_provider()

        def info(client: HubSpot) -> Any:
            api_client = client.crm.contacts.basic_api.api_client
            headers = {"Accept": "application/json", "Content-Type": "application/json"}
            if self._can_refresh:
                return api_client.call_api(
                    "/oauth/v1/access-tokens/{token}", "GET", path_params={"token": token},
                    header_params=headers, _return_http_data_only=True, **self._raw(),
                )  # fmt: skip
            return api_client.call_api(
                "/oauth/v2/private-apps/get/access-token-info", "POST",
                body={"tokenKey": token}, header_params=headers, auth_settings=["oauth2"],
                _return_http_data_only=True, **self._raw(),
            )  # fmt: skip

        try:
            body = self._call("oauth.token_info", info, refresh=False) or {}
        except FatalCrmError as exc:
            if exc.status in {401, 404}:
                raise FatalCrmError(exc.message, kind="auth", status=401) from exc
            raise
        return {str(scope) for scope in body.get("scopes") or []}

    # ------------------------------------------------------------------ fields
    def describe_fields(self, subject: Subject) -> dict[str, FieldDescription]:
        obj = _OBJECTS[subject]
        body = self._call(
            f"{obj}.properties", lambda c: c.crm.properties.core_api.get_all(obj, **self._raw())
        )
        described: dict[str, FieldDescription] = {}
        for prop in (body or {}).get("results", []):
            described[prop["name"]] = FieldDescription(
                name=prop["name"],
                label=prop.get("label", ""),
                type=prop.get("type", ""),
                options=tuple(str(o.get("value")) for o in prop.get("options") or []),
                custom=not prop.get("hubspotDefined", False),
                updateable=not (prop.get("modificationMetadata") or {}).get("readOnlyValue", False),
            )
        return described

    def prepare(self, subject: Subject, *, dry_run: bool = False) -> list[str]:
        """Create the property group when missing (and, for contacts, the tasks' follow-up
        key property); returns what it created."""
        made = self._prepare_group(_OBJECTS[subject], dry_run=dry_run)
        if subject == "contact":
            made += self._prepare_follow_up_key(dry_run=dry_run)
        return made

    def _follow_up_key_state(self) -> str:
        """``present``, ``missing`` or ``archived``: the tasks' follow-up key property, read
        from the active properties and, when absent, the archived ones (``archived=true``)."""
        for archived, state in ((False, "present"), (True, "archived")):
            body = self._call(
                "tasks.properties",
                lambda c, a: c.crm.properties.core_api.get_all("tasks", archived=a, **self._raw()),
                archived,
            )
            if any(
                p.get("name") == FOLLOW_UP_KEY_PROPERTY for p in (body or {}).get("results", [])
            ):
                return state
        return "missing"

    def follow_up_key_finding(self) -> CheckFinding:
        """What ``check`` says of the follow-up key; ``install`` acts on the same state."""
        state = self._follow_up_key_state()
        if state == "present":
            return CheckFinding("fields", "ok", f"tasks.{FOLLOW_UP_KEY_PROPERTY} is in place")
        if state == "archived":
            return CheckFinding("fields", "error", ARCHIVED_FOLLOW_UP_KEY, "tasks",
                                FOLLOW_UP_KEY_PROPERTY)  # fmt: skip
        return CheckFinding("fields", "error",
                            f"tasks.{FOLLOW_UP_KEY_PROPERTY}: missing property; run cx360 install",
                            "tasks", FOLLOW_UP_KEY_PROPERTY)  # fmt: skip

    def _prepare_follow_up_key(self, *, dry_run: bool) -> list[str]:
        state = self._follow_up_key_state()
        if state == "present":
            return []
        if state == "archived":
            # The v3 properties API has no restore; HubSpot keeps an archived property's name
            # taken: an admin restores it (the steps are in the message).
            raise FatalCrmError(ARCHIVED_FOLLOW_UP_KEY, kind="config")
        made = [f"property {FOLLOW_UP_KEY_PROPERTY} on tasks"]
        if dry_run:
            return made
        prop = {
            "name": FOLLOW_UP_KEY_PROPERTY,
            "label": "cx360 follow-up key",
            "type": "string",
            "fieldType": "text",
            "groupName": "taskinformation",
            "description": "Set by cx360 on follow-up tasks: a retried creation looks it up "
            "so it never creates a second task.",
        }
        try:
            self._call(
                "tasks.properties.create",
                lambda c: c.crm.properties.core_api.create("tasks", prop, **self._raw()),
            )
        except FatalCrmError as exc:
            if exc.status != 409:  # created meanwhile
                raise
        return made

    def _prepare_group(self, obj: str, *, dry_run: bool) -> list[str]:
        name, label = self.property_group
        body = self._call(
            f"{obj}.groups", lambda c: c.crm.properties.groups_api.get_all(obj, **self._raw())
        )
        if any(g.get("name") == name for g in (body or {}).get("results", [])):
            return []
        if dry_run:
            return [f"property group {name} on {obj}"]
        group = {"name": name, "label": label, "displayOrder": -1}
        try:
            self._call(
                f"{obj}.groups.create",
                lambda c: c.crm.properties.groups_api.create(obj, group, **self._raw()),
            )
        except FatalCrmError as exc:
            if exc.status != 409:  # created meanwhile
                raise
        return [f"property group {name} on {obj}"]

    def create_field(self, subject: Subject, spec: FieldSpec) -> None:
        obj = _OBJECTS[subject]
        body: dict[str, Any] = {
            "name": spec.name,
            "label": spec.label,
            "type": spec.type,
            "fieldType": spec.field_type or "text",
            "groupName": self.property_group[0],
            "description": spec.description,
        }
        if spec.options:
            body["options"] = _options(spec.options)
        self._call(
            f"{obj}.properties.create",
            lambda c: c.crm.properties.core_api.create(obj, body, **self._raw()),
        )

    def add_picklist_values(
        self, subject: Subject, spec: FieldSpec, missing: Sequence[PicklistOption]
    ) -> None:
        obj = _OBJECTS[subject]
        current = self._call(
            f"{obj}.properties.get",
            lambda c: c.crm.properties.core_api.get_by_name(obj, spec.name, **self._raw()),
        )
        options = list((current or {}).get("options") or [])
        options.extend(_options(missing, start=len(options)))
        self._call(
            f"{obj}.properties.update",
            lambda c: c.crm.properties.core_api.update(
                obj, spec.name, {"options": options}, **self._raw()
            ),
        )

    def grant_field_access(
        self, subject: Subject, fields: Sequence[str], *, dry_run: bool = False
    ) -> list[str]:
        return []  # HubSpot scopes cover all properties of an object

    def assign_field_access(self, *, dry_run: bool = False) -> list[str]:
        return []  # no field-level security: the token's scopes decide

    def hidden_fields(self, subject: Subject, names: Sequence[str]) -> dict[str, str]:
        return {}  # every property of an object is visible to a token with its scope

    # ------------------------------------------------------------------ resolve
    def _batch_read(
        self,
        subject: Subject,
        ids: Sequence[str],
        properties: Sequence[str],
        id_property: str | None,
    ) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for chunk in chunked(list(ids), BATCH_LIMIT):
            body: dict[str, Any] = {
                "properties": list(properties),
                "inputs": [{"id": value} for value in chunk],
            }
            if id_property:
                body["idProperty"] = id_property
            reply = self._call(
                f"{_OBJECTS[subject]}.batch.read",
                lambda c, b: self._batch_api(c, subject).read(b, **self._raw()),
                body,
            )
            records.extend((reply or {}).get("results", []))
        return records

    def resolve_contacts(self, keys: Iterable[RecordKey]) -> dict[RecordKey, CrmRecordRef]:
        props = ["email", "hubspot_owner_id", "associatedcompanyid"]
        return self._resolve("contact", list(keys), "email", props, lambda k: k.normalized_email)

    def resolve_accounts(self, keys: Iterable[RecordKey]) -> dict[RecordKey, CrmRecordRef]:
        keys = list(keys)
        found = self._resolve("account", keys, None, ["domain", "hubspot_owner_id"], lambda k: None)
        wanted: dict[str, list[RecordKey]] = {}
        for key in keys:
            if key not in found and key.normalized_domain:
                wanted.setdefault(key.normalized_domain, []).append(key)
        for domain, ref in self._companies_by_domain(sorted(wanted)).items():
            for key in wanted.get(domain, []):
                found[key] = ref
        return found

    def _resolve(
        self,
        subject: Subject,
        keys: list[RecordKey],
        id_property: str | None,
        props: list[str],
        natural: Callable[[RecordKey], str | None],
    ) -> dict[RecordKey, CrmRecordRef]:
        found: dict[RecordKey, CrmRecordRef] = {}
        by_id = sorted({k.crm_id for k in keys if k.crm_id})
        refs_by_id: dict[str, CrmRecordRef] = {}
        for record in self._batch_read(subject, by_id, [*props, MERGED_IDS], None):
            # An id merged away reads as the merged record, which has a new id and lists the
            # old ones in hs_merged_object_ids (developer changelog "Updated merge
            # functionality for contacts and companies"): the key follows it.
            merged = str((record.get("properties") or {}).get(MERGED_IDS) or "").split(";")
            for known_as in (record["id"], *filter(None, merged)):
                refs_by_id[known_as] = self._ref(record)
        for key in keys:
            if key.crm_id and key.crm_id in refs_by_id:
                found[key] = refs_by_id[key.crm_id]
        if id_property:
            pending = sorted({natural(k) or "" for k in keys if k not in found} - {""})
            refs: dict[str, CrmRecordRef] = {}
            for record in self._batch_read(subject, pending, props, id_property):
                found_value = str((record.get("properties") or {}).get(id_property) or "")
                refs[found_value.strip().lower()] = self._ref(record)
            for key in keys:
                value = natural(key)
                if key not in found and value and value in refs:
                    found[key] = refs[value]
        return found

    def _companies_by_domain(self, domains: Sequence[str]) -> dict[str, CrmRecordRef]:
        found: dict[str, CrmRecordRef] = {}
        for chunk in chunked(list(domains), BATCH_LIMIT):
            body = _in_filter("domain", chunk, ["domain", "hubspot_owner_id"])
            for record in self._search("companies", body):
                domain = str((record.get("properties") or {}).get("domain") or "")
                found.setdefault(domain.strip().lower().removeprefix("www."), self._ref(record))
        return found

    def _search(self, obj: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every record a CRM search finds, page after page (``after``)."""
        after: str | None = None
        while True:
            page = {**body, "after": after} if after else body
            reply = (
                self._call(
                    f"{obj}.search",
                    lambda c, b: _SEARCH_APIS[obj](c).do_search(b, **self._raw()),
                    page,
                )
                or {}
            )
            yield from reply.get("results", [])
            after = ((reply.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    @staticmethod
    def _ref(record: dict[str, Any]) -> CrmRecordRef:
        props = record.get("properties") or {}
        return CrmRecordRef(
            crm_id=str(record["id"]),
            account_crm_id=props.get("associatedcompanyid") or None,
            owner_id=props.get("hubspot_owner_id") or None,
        )

    # ------------------------------------------------------------------ write
    def write(self, subject: Subject, updates: Sequence[RecordUpdate]) -> list[WriteOutcome]:
        outcomes: list[WriteOutcome] = []
        for chunk in chunked([u for u in updates if u.values], BATCH_LIMIT):
            outcomes.extend(self._write_batch(subject, chunk))
        return outcomes

    def _write_batch(self, subject: Subject, chunk: Sequence[RecordUpdate]) -> list[WriteOutcome]:
        body = {
            "inputs": [
                {
                    "id": u.crm_id,
                    "objectWriteTraceId": u.crm_id,
                    "properties": {k: _property_value(v) for k, v in u.values.items()},
                }
                for u in chunk
            ]
        }
        try:
            reply = (
                self._call(
                    f"{_OBJECTS[subject]}.batch.update",
                    lambda c: self._batch_api(c, subject).update(body, **self._raw()),
                )
                or {}
            )
        except FatalCrmError as exc:
            if exc.status not in {400, 404, 409}:
                raise
            return self._split_rejected(subject, chunk, exc)
        errors = reply.get("errors") or []
        if errors and "PROPERTY_DOESNT_EXIST" in json.dumps(errors):
            raise FatalCrmError(
                f"HubSpot {_OBJECTS[subject]}.batch.update: {errors[0].get('message')}",
                kind="field",
                code="PROPERTY_DOESNT_EXIST",
            )
        rejected = _errors_by_id(errors)
        written = {str(r.get("id")) for r in reply.get("results") or []}
        unexplained = "; ".join(str(e.get("message")) for e in errors) or "not in HubSpot's reply"
        outcomes = []
        for update in chunk:
            if update.crm_id in rejected:
                code, reason = rejected[update.crm_id]
                outcomes.append(WriteOutcome(update.crm_id, "rejected", reason, code))
            elif update.crm_id in written:
                outcomes.append(WriteOutcome(update.crm_id, "written"))
            else:
                outcomes.append(WriteOutcome(update.crm_id, "rejected", unexplained, "UNKNOWN"))
        return outcomes

    def _split_rejected(
        self, subject: Subject, chunk: Sequence[RecordUpdate], exc: FatalCrmError
    ) -> list[WriteOutcome]:
        """A whole batch refused for some inputs (``_without_refused``)."""
        if _is_missing_property(exc):
            raise FatalCrmError(exc.message, kind="field", code=exc.code, status=exc.status)
        return _without_refused(
            chunk,
            exc,
            key=lambda u: u.crm_id,
            send=lambda rest: self._write_batch(subject, rest),
            refuse=lambda u, code, reason: WriteOutcome(u.crm_id, "rejected", reason, code),
        )

    # ------------------------------------------------------------------ tasks
    def create_tasks(self, tasks: Sequence[FollowUpTask]) -> list[WriteOutcome]:
        """Create the tasks, each associated with its record and carrying its follow-up key
        (a plain property: HubSpot documents no unique-value properties on tasks, so the
        caller keeps them once, see ``find_tasks``)."""
        outcomes: list[WriteOutcome] = []
        for chunk in chunked(list(tasks), BATCH_LIMIT):
            outcomes.extend(self._create_task_chunk(list(enumerate(chunk))))
        return outcomes

    def _create_task_chunk(self, chunk: Sequence[tuple[int, FollowUpTask]]) -> list[WriteOutcome]:
        """One batch create; every input carries an ``objectWriteTraceId`` so HubSpot answers
        per input (207), and a batch refused as a whole is split (``_without_refused``)."""
        inputs = [
            {
                "objectWriteTraceId": _trace_id(position, task),
                "properties": _task_properties(task),
                "associations": [
                    {
                        "to": {"id": task.record_id},
                        "types": [
                            {
                                "associationCategory": "HUBSPOT_DEFINED",
                                "associationTypeId": _TASK_ASSOCIATION[task.subject],
                            }
                        ],
                    }
                ],
            }
            for position, task in chunk
        ]
        try:
            reply = self._call(
                "tasks.batch.create",
                lambda c: c.crm.objects.tasks.batch_api.create({"inputs": inputs}, **self._raw()),
            )
        except FatalCrmError as exc:
            if exc.status not in _REFUSED:
                raise
            return _without_refused(
                chunk,
                exc,
                key=lambda item: _trace_id(*item),
                send=self._create_task_chunk,
                refuse=lambda item, code, reason: WriteOutcome(
                    item[1].record_id, "rejected", reason, code
                ),
            )
        return _traced_outcomes(
            [(_trace_id(*item), item[1].record_id) for item in chunk], reply or {}
        )

    def archive_tasks(self, task_ids: Sequence[str]) -> None:
        for chunk in chunked(list(task_ids), BATCH_LIMIT):
            body = {"inputs": [{"id": task_id} for task_id in chunk]}
            self._call(
                "tasks.batch.archive",
                lambda c, b: c.crm.objects.tasks.batch_api.archive(b, **self._raw()),
                body,
            )

    def find_tasks(self, keys: Sequence[str]) -> dict[str, str]:
        """The tasks carrying these follow-up keys: key -> task id (the lowest id when a key
        is on several). A search on the key property, 100 values per ``IN`` filter."""
        found: dict[str, str] = {}
        for chunk in chunked(sorted(set(keys)), BATCH_LIMIT):
            body = _in_filter(FOLLOW_UP_KEY_PROPERTY, chunk, [FOLLOW_UP_KEY_PROPERTY])
            body["sorts"] = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
            for record in self._search("tasks", body):
                key = str((record.get("properties") or {}).get(FOLLOW_UP_KEY_PROPERTY) or "")
                if key in chunk:
                    found.setdefault(key, str(record["id"]))
        return found

    # ------------------------------------------------------------------ read
    def read(
        self, subject: Subject, crm_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        return {
            str(r["id"]): {f: (r.get("properties") or {}).get(f) for f in fields}
            for r in self._batch_read(subject, crm_ids, fields, None)
        }

    # ------------------------------------------------------------------ revenue
    #: Accounts per read_account_revenue call the revenue refresh should ask for: the won
    #: deals are read portal-wide, so one call for all accounts costs the same as one for a few.
    revenue_batch = 1_000_000

    def read_account_revenue(
        self, crm_account_ids: Sequence[str], window_days: int
    ) -> dict[str, AccountRevenue]:
        """Won deals (``hs_is_closed_won``) closed in the last ``window_days`` days, summed per
        company by ``deal_currency_code`` (the company currency when a deal has none). The
        deals come from the CRM search in pages of 200 keyed by ``hs_object_id``; each deal
        counts for its primary company (or its only one), read with the v4 associations batch
        read. A company's deals in more than one currency give no amount. Every asked company
        gets an entry: 0 in the company currency without a won deal.

        The companies' own revenue properties (e.g. ``total_revenue``, HubSpot's "Total
        Revenue": all closed-won deals ever) are not used: they have no window."""
        if window_days < 1:
            raise ValueError(f"window_days must be at least 1, not {window_days}")
        ids = list(dict.fromkeys(str(i) for i in crm_account_ids))
        bad = [i for i in ids if not i.isdigit()]
        if bad:
            raise ValueError(f"not HubSpot company ids: {', '.join(map(repr, bad[:5]))}")
        if not ids:
            return {}
        home = str(self._account_details().get("companyCurrency") or "")
        if not home:
            raise FatalCrmError("HubSpot account details name no companyCurrency", kind="request")
        deals = self._won_deals(window_days)
        companies = self._deal_companies(list(deals))
        wanted = set(ids)
        sums: dict[str, dict[str | None, tuple[Decimal, int]]] = {}
        for deal_id, props in deals.items():
            company = companies.get(deal_id)
            if company not in wanted:
                continue
            currency = props.get("deal_currency_code") or home
            total, count = sums.setdefault(str(company), {}).get(currency, (Decimal(0), 0))
            sums[str(company)][currency] = (
                total + _amount(deal_id, props.get("amount")),
                count + 1,
            )
        return {
            crm_id: revenue_of_groups(crm_id, sums[crm_id])
            if crm_id in sums
            else AccountRevenue(crm_id, Decimal(0), home, 0)
            for crm_id in ids
        }

    def _won_deals(self, window_days: int) -> dict[str, dict[str, Any]]:
        """deal id -> properties of every won deal closed in the window (up to now)."""
        now = datetime.now(UTC)
        since = datetime.combine((now - timedelta(days=window_days)).date(), time(), UTC)
        found: dict[str, dict[str, Any]] = {}
        last = "0"
        while True:
            body = {
                "filterGroups": [
                    {
                        "filters": [
                            {"propertyName": "hs_is_closed_won", "operator": "EQ", "value": "true"},
                            {"propertyName": "closedate", "operator": "BETWEEN",
                             "value": str(int(since.timestamp() * 1000)),
                             "highValue": str(int(now.timestamp() * 1000))},
                            {"propertyName": "hs_object_id", "operator": "GT", "value": last},
                        ]
                    }
                ],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "properties": ["amount", "closedate", "deal_currency_code"],
                "limit": SEARCH_PAGE,
            }  # fmt: skip
            reply = self._search_page("deals", body)
            results = reply.get("results") or []
            for record in results:
                found[str(record["id"])] = dict(record.get("properties") or {})
            if not results or not (reply.get("paging") or {}).get("next"):
                return found
            last = str(results[-1]["id"])

    def _search_page(self, obj: str, body: dict[str, Any]) -> dict[str, Any]:
        """One page of a CRM search; a 429 of the search endpoints' own per-second limit is
        waited out (its Retry-After, at most 10 s) and the page asked again."""
        for attempt in range(SEARCH_PAGE_RETRIES + 1):
            try:
                return dict(
                    self._call(
                        f"{obj}.search",
                        lambda c, b: _SEARCH_APIS[obj](c).do_search(b, **self._raw()),
                        body,
                    )
                    or {}
                )
            except RetriableCrmError as exc:
                if exc.status != 429 or attempt == SEARCH_PAGE_RETRIES:
                    raise
                wait = min(exc.retry_after if exc.retry_after is not None else 1.0, 10.0)
                log.info("HubSpot %s search limited (429); asking again in %.1f s", obj, wait)
                time_module.sleep(wait)
        raise AssertionError("unreachable")

    def _deal_companies(self, deal_ids: Sequence[str]) -> dict[str, str]:
        """deal id -> the company it counts for: its primary company, else its only one
        (a deal with several companies and none primary counts for none)."""
        found: dict[str, str] = {}
        for chunk in chunked(list(deal_ids), ASSOCIATION_READ_LIMIT):
            body = {"inputs": [{"id": deal_id} for deal_id in chunk]}
            reply = (
                self._call(
                    "deals.associations.companies",
                    lambda c, b: c.crm.associations.v4.batch_api.get_page(
                        "deals", "companies", b, **self._raw()
                    ),
                    body,
                )
                or {}
            )
            for result in reply.get("results") or []:
                links = result.get("to") or []
                primary = [
                    link for link in links
                    if any(t.get("typeId") == PRIMARY_DEAL_COMPANY
                           for t in link.get("associationTypes") or [])
                ]  # fmt: skip
                chosen = primary or (links if len(links) == 1 else [])
                if chosen:
                    found[str((result.get("from") or {}).get("id"))] = str(chosen[0]["toObjectId"])
                elif links:
                    log.warning(
                        "HubSpot deal %s has %d companies and none primary: not counted",
                        (result.get("from") or {}).get("id"),
                        len(links),
                    )
        return found


def _amount(deal_id: str, value: Any) -> Decimal:
    """A deal's ``amount`` (a number property, text in the API); empty is 0."""
    if value in (None, ""):
        return Decimal(0)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise FatalCrmError(
            f"HubSpot deal {deal_id}: amount {value!r} is not a number", kind="request"
        ) from None
    if not amount.is_finite():
        raise FatalCrmError(
            f"HubSpot deal {deal_id}: amount {value!r} is not a number", kind="request"
        )
    return amount


def _in_filter(name: str, values: Sequence[str], properties: list[str]) -> dict[str, Any]:
    """A search body: records whose ``name`` is one of ``values``, 100 to a page."""
    return {
        "filterGroups": [{"filters": [{"propertyName": name, "operator": "IN",
                                       "values": list(values)}]}],
        "properties": properties,
        "limit": 100,
    }  # fmt: skip


def _task_properties(task: FollowUpTask) -> dict[str, str]:
    due = datetime.combine(task.due, time(9, 0), tzinfo=UTC)
    properties = {
        "hs_timestamp": due.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "hs_task_subject": task.title,
        "hs_task_body": task.body,
        "hs_task_status": "NOT_STARTED",
        "hs_task_priority": task.priority.upper(),
    }
    if task.owner_id:
        properties["hubspot_owner_id"] = task.owner_id
    if task.key:
        properties[FOLLOW_UP_KEY_PROPERTY] = task.key
    return properties


def _trace_id(position: int, task: FollowUpTask) -> str:
    """A task's ``objectWriteTraceId``: its follow-up key, or its place in the batch."""
    return task.key or f"task-{position}"


def _traced_outcomes(
    traced: Sequence[tuple[str, str]], reply: dict[str, Any]
) -> list[WriteOutcome]:
    """Outcomes, in input order, of a batch whose inputs carried ``objectWriteTraceId``s
    (``traced``: trace id, record id): HubSpot answers each result and each error with its
    input's trace id (a 201 or a 207 Multi-Status)."""
    results = {
        str(r.get("objectWriteTraceId")): str(r.get("id")) for r in reply.get("results") or []
    }
    errors = reply.get("errors") or []
    named = _errors_by_id(errors)
    unexplained = "; ".join(str(e.get("message")) for e in errors) or "not in HubSpot's reply"
    outcomes = []
    for trace_id, record_id in traced:
        if trace_id in results:
            outcomes.append(WriteOutcome(record_id, "written", created_id=results[trace_id]))
        elif trace_id in named:
            code, reason = named[trace_id]
            outcomes.append(WriteOutcome(record_id, "rejected", reason, code))
        else:
            outcomes.append(WriteOutcome(record_id, "rejected", unexplained, "UNKNOWN"))
    return outcomes


def _options(options: Sequence[PicklistOption], start: int = 0) -> list[dict[str, Any]]:
    return [
        {"label": o.label, "value": o.value, "displayOrder": start + i, "hidden": False}
        for i, o in enumerate(options)
    ]


def _property_value(value: Any) -> str:
    if value is None:
        return ""  # HubSpot clears a property set to the empty string (erasure)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


#: Statuses of a task batch HubSpot refused for what some of its tasks hold (not transient).
_REFUSED = frozenset({400, 404})


def _without_refused(
    chunk: Sequence[T],
    exc: FatalCrmError,
    *,
    key: Callable[[T], str],
    send: Callable[[Sequence[T]], list[WriteOutcome]],
    refuse: Callable[[T, str | None, str], WriteOutcome],
) -> list[WriteOutcome]:
    """Outcomes, in input order, of a batch HubSpot refused as a whole for some inputs.

    The inputs the error names (by ``key``: a record's id, a task's follow-up key) are
    refused and the rest sent again; when it names none, the batch is halved until each
    refused input is alone. ``send`` returns one outcome per input, in order.
    """
    named = _errors_by_id(_error_list(exc.details))
    if any(key(x) in named for x in chunk):
        rest = [x for x in chunk if key(x) not in named]
        sent = iter(send(rest) if rest else [])
        return [refuse(x, *named[key(x)]) if key(x) in named else next(sent) for x in chunk]
    if len(chunk) == 1:
        return [refuse(chunk[0], exc.code, exc.message)]
    middle = len(chunk) // 2
    return send(chunk[:middle]) + send(chunk[middle:])


def _error_list(details: Any) -> list[dict[str, Any]]:
    if not isinstance(details, dict):
        return []
    errors = list(details.get("errors") or [])
    if details.get("context"):
        errors.append(details)
    return [e for e in errors if isinstance(e, dict)]


def _errors_by_id(errors: Sequence[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """crm id or trace id -> (code, message) from a 207 ``errors`` list or a 400 body's
    ``errors`` (HubSpot names an input by its ``ids`` and its ``objectWriteTraceId``)."""
    named: dict[str, tuple[str, str]] = {}
    for error in errors:
        context = error.get("context") or {}
        code = str(error.get("category") or error.get("code") or "VALIDATION_ERROR")
        message = str(error.get("message") or code)
        names = [*(context.get("ids") or context.get("id") or [])]
        names += context.get("objectWriteTraceId") or []
        for name in names:
            named[str(name)] = (code, message)
    return named


def _is_missing_property(exc: FatalCrmError) -> bool:
    """A property that does not exist fails every record alike: not one record's fault."""
    text = json.dumps(exc.details) if exc.details else exc.message
    return "PROPERTY_DOESNT_EXIST" in text or "does not exist" in text
