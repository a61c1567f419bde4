"""The adapter protocol and the plain data it takes and returns.

The sync pipeline talks to a CRM only through ``CrmAdapter``; the values here are plain,
immutable data without client-library types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal, Protocol

Subject = Literal["contact", "account"]
SUBJECTS: tuple[Subject, ...] = ("contact", "account")


@dataclass(frozen=True)
class RecordKey:
    """How cx360 knows a contact (crm_id and/or email) or an account (crm_id and/or domain)."""

    crm_id: str | None = None
    email: str | None = None
    domain: str | None = None

    @property
    def normalized_email(self) -> str | None:
        return self.email.strip().lower() if self.email and self.email.strip() else None

    @property
    def normalized_domain(self) -> str | None:
        return normalize_domain(self.domain) if self.domain else None


def normalize_domain(value: str) -> str | None:
    """``https://www.Acme.de/about`` -> ``acme.de``; None for an empty value."""
    text = value.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0].split("?", 1)[0].split(":", 1)[0]
    if text.startswith("www."):
        text = text[4:]
    return text or None


@dataclass(frozen=True)
class CrmRecordRef:
    """A record found in the CRM."""

    crm_id: str
    account_crm_id: str | None = None
    owner_id: str | None = None


@dataclass(frozen=True)
class RecordUpdate:
    """Field values (CRM field name -> value, already translated) for one record."""

    crm_id: str
    values: Mapping[str, Any]


WriteStatus = Literal["written", "rejected", "retriable"]


@dataclass(frozen=True)
class WriteOutcome:
    """What happened to one record of a write or task batch.

    ``rejected``: the CRM refused this record (invalid value, deleted record); sending it again
    unchanged fails again. ``retriable``: this record alone hit a transient error (a locked
    row) and may be sent again.
    """

    crm_id: str
    status: WriteStatus
    reason: str | None = None
    code: str | None = None
    #: The id of a record the call created (a follow-up task).
    created_id: str | None = None


@dataclass(frozen=True)
class FollowUpTask:
    """A task for the record owner, e.g. after a contact became a detractor."""

    subject: Subject
    record_id: str
    title: str
    due: date
    owner_id: str | None = None
    body: str = ""
    priority: str = "High"
    #: Idempotency key stored on the task (a unique CRM field): creating a task again with
    #: the same key updates the one that exists, so a retry after a crash never duplicates.
    key: str | None = None


@dataclass(frozen=True)
class PicklistOption:
    value: str
    label: str


@dataclass(frozen=True)
class FieldSpec:
    """A field cx360 creates: CRM-native type plus the details that type needs."""

    name: str
    label: str
    type: str
    metric: str | None = None
    description: str = ""
    precision: int | None = None
    scale: int | None = None
    length: int | None = None
    field_type: str | None = None
    options: tuple[PicklistOption, ...] = ()


@dataclass(frozen=True)
class FieldDescription:
    """A field as the CRM describes it; ``type`` is the describe type (``double``, ``number``)."""

    name: str
    label: str
    type: str
    options: tuple[str, ...] = ()
    custom: bool = False
    updateable: bool = True


CheckLevel = Literal["ok", "warning", "error"]


@dataclass(frozen=True)
class CheckFinding:
    area: str  # config | mapping | connectivity | identity | permissions | fields
    level: CheckLevel
    message: str
    subject: str | None = None
    field: str | None = None

    @property
    def is_error(self) -> bool:
        return self.level == "error"


@dataclass
class ApiCallCounter:
    """Calls made by one adapter instance, in total and per operation."""

    total: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)
    #: Called before each HTTP request to the CRM; the sync pipeline sets it to wait for the
    #: request budget all workers share (connector.sync.ratelimit).
    before_call: Callable[[str], None] | None = None
    #: Called after each HTTP request with the operation and its outcome
    #: (``connector.crm.errors.call_outcome``); the sync pipeline counts them in its metrics.
    after_call: Callable[[str, str], None] | None = None

    def starting(self, operation: str) -> None:
        if self.before_call is not None:
            self.before_call(operation)

    def finished(self, operation: str, outcome: str) -> None:
        if self.after_call is not None:
            self.after_call(operation, outcome)

    def add(self, operation: str, count: int = 1) -> None:
        self.total += count
        self.by_operation[operation] = self.by_operation.get(operation, 0) + count


@dataclass(frozen=True)
class AccountRevenue:
    """One account's closed-won revenue in a window, as the CRM gives it (issue #22).

    ``amount`` is in ``currency`` (ISO 4217). An account without a won deal in the window is
    ``amount`` 0 and ``deals`` 0, in the CRM's own currency. ``amount`` is None, with ``note``
    saying why, when the CRM cannot give one currency for the account (deals in more than one
    currency that it does not convert): amounts in different currencies are never added up.
    """

    crm_account_id: str
    amount: Decimal | None
    currency: str | None
    deals: int
    note: str | None = None


def revenue_of_groups(
    crm_account_id: str, sums: Mapping[str | None, tuple[Decimal, int]]
) -> AccountRevenue:
    """An account's revenue from its won deals' sums by currency (currency -> (sum, deals)):
    the one currency's sum, or no amount and a note naming the currencies."""
    deals = sum(count for _, count in sums.values())
    if len(sums) == 1:
        currency, (amount, _) = next(iter(sums.items()))
        if currency is not None:
            return AccountRevenue(crm_account_id, amount, currency, deals)
    named = sorted(c for c in sums if c is not None)
    missing = " and deals without a currency" if None in sums else ""
    return AccountRevenue(
        crm_account_id, None, None, deals, f"deals in {' and '.join(named) or 'no currency'}"
        f"{missing}: amounts in different currencies are not added up",
    )  # fmt: skip


class CrmAdapter(Protocol):
    """What the pipeline, ``cx360 install`` and ``cx360 check`` need from a CRM."""

    crm: str
    #: Most records one write call takes.
    max_batch: int
    calls: ApiCallCounter

    def object_name(self, subject: Subject) -> str: ...

    def connection_identity(self) -> str:
        """Which CRM account this connection writes to (``hubspot:<portal id>``,
        ``salesforce:<org id>``): ids cx360 stored are valid only there."""
        ...

    def check(self) -> list[CheckFinding]:
        """Connectivity and permissions: can cx360 log in, read and write what it needs?"""
        ...

    def describe_fields(self, subject: Subject) -> dict[str, FieldDescription]: ...

    def prepare(self, subject: Subject, *, dry_run: bool = False) -> list[str]:
        """Create what fields need around them (HubSpot property group); names what it
        created (with ``dry_run``: what it would create)."""
        ...

    def create_field(self, subject: Subject, spec: FieldSpec) -> None: ...

    def add_picklist_values(
        self, subject: Subject, spec: FieldSpec, missing: Sequence[PicklistOption]
    ) -> None: ...

    def grant_field_access(
        self, subject: Subject, fields: Sequence[str], *, dry_run: bool = False
    ) -> list[str]:
        """Read and edit on ``fields`` for cx360's permission set (Salesforce field-level
        security); names the fields granted (with ``dry_run``: still to grant)."""
        ...

    def assign_field_access(self, *, dry_run: bool = False) -> list[str]:
        """Assign cx360's permission set to the integration user, so the fields it grants
        become visible and writable to it; names what was assigned (with ``dry_run``: what
        is still to assign). HubSpot has nothing to assign."""
        ...

    def hidden_fields(self, subject: Subject, names: Sequence[str]) -> dict[str, str]:
        """Those of ``names`` (missing from ``describe_fields``) that exist in the CRM but
        field-level security hides from the integration user (Salesforce), with the type they
        were created as ("" when the CRM does not say)."""
        ...

    def resolve_contacts(self, keys: Iterable[RecordKey]) -> dict[RecordKey, CrmRecordRef]: ...

    def resolve_accounts(self, keys: Iterable[RecordKey]) -> dict[RecordKey, CrmRecordRef]: ...

    def write(self, subject: Subject, updates: Sequence[RecordUpdate]) -> list[WriteOutcome]: ...

    def create_tasks(self, tasks: Sequence[FollowUpTask]) -> list[WriteOutcome]: ...

    def find_tasks(self, keys: Sequence[str]) -> dict[str, str]:
        """The CRM tasks carrying these follow-up keys: key -> task id."""
        ...

    def archive_tasks(self, task_ids: Sequence[str]) -> None:
        """Archive (HubSpot) or delete (Salesforce) these tasks."""
        ...

    def read(
        self, subject: Subject, crm_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]: ...

    def read_account_revenue(
        self, crm_account_ids: Sequence[str], window_days: int
    ) -> dict[str, AccountRevenue]:
        """Closed-won revenue of each account over the last ``window_days`` days (by close
        date): one entry per asked id, ``amount`` 0 for an account without a won deal."""
        ...
