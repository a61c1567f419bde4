"""SQLAlchemy models: what cx360 stores.

Contacts and accounts are the people and companies *as known to cx360*: the keys responses
arrive with (email, CRM id, domain) and, once resolved, their CRM ids. Responses and employee
ratings are the raw input, unique on ``(source, external_id)`` so a resend updates instead of
duplicating. Scorecards hold the latest computed values per contact/account; the outbox holds
"this subject changed" rows written in the same transaction as the data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def utc_for_storage(value: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is refused (its zone would be a guess). Stricter
    than the scoring core's ``as_utc``, which takes a naive time as UTC: what a column
    stores must say its zone."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC)


def sqlite_text(value: datetime) -> str:
    """A naive UTC datetime as SQLite's DATETIME stores it (``YYYY-MM-DD HH:MM:SS.ffffff``)."""
    return value.isoformat(sep=" ", timespec="microseconds")


class _SQLiteDateTimeText(sqlite.DATETIME):
    """SQLite's DATETIME, converted with the C ``isoformat``/``fromisoformat``.

    It stores the very text SQLAlchemy's own SQLite DATETIME stores
    (``YYYY-MM-DD HH:MM:SS.ffffff``), several times faster: on a 20,000-row import the
    default conversion was a quarter of the time spent storing.
    """

    def bind_processor(self, dialect: Dialect) -> Any:
        def process(value: datetime | None) -> str | None:
            return None if value is None else sqlite_text(value)

        return process

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        def process(value: str | datetime | None) -> datetime | None:
            return datetime.fromisoformat(value) if isinstance(value, str) else value

        return process


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLiteDateTimeText())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = utc_for_storage(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """A decimal kept exact on every backend: NUMERIC on PostgreSQL, its text on SQLite (whose
    NUMERIC goes through float and would change sums of money)."""

    impl = Numeric(24, 6)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(24, 6, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    crm_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    domain: Mapped[str | None] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    unmatched_since: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    contacts: Mapped[list[Contact]] = relationship(back_populates="account")


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    crm_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    # The record owner in the CRM (follow-up tasks are assigned to them), from resolution.
    crm_owner_id: Mapped[str | None] = mapped_column(String(64))
    # Since when the CRM has not known this contact (the unmatched list); None once matched.
    unmatched_since: Mapped[datetime | None] = mapped_column()
    unmatched_checked_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    account: Mapped[Account | None] = relationship(back_populates="contacts")


class Response(Base):
    __tablename__ = "responses"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_responses_source_external_id"),
        Index("ix_responses_contact_kind_answered", "contact_id", "kind", "answered_at"),
        Index("ix_responses_answered_at", "answered_at"),
        CheckConstraint("kind in ('nps', 'csat')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(64), default="api")
    external_id: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(8))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    touchpoint: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(64))
    answered_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmployeeRating(Base):
    __tablename__ = "employee_ratings"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_employee_ratings_source_external_id"),
        CheckConstraint(
            "contact_id IS NOT NULL OR account_id IS NOT NULL", name="rated_subject_present"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(64), default="api")
    external_id: Mapped[str | None] = mapped_column(String(255))
    employee: Mapped[str] = mapped_column(String(320), index=True)
    # A rating is of a contact or, when only an account key was given, of the account.
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    relationship: Mapped[int] = mapped_column(Integer)
    potential: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Scorecard(Base):
    __tablename__ = "scorecards"
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id", name="uq_scorecards_subject"),
        CheckConstraint("subject_type in ('contact', 'account')", name="subject_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(Integer)
    values: Mapped[dict[str, Any]] = mapped_column()
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What cx360 last wrote to the CRM for this subject (field -> value), for diffing.
    written: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    written_at: Mapped[datetime | None] = mapped_column()


class OutboxItem(Base):
    """A subject whose scorecard must be recomputed and pushed; written with the data."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "processed_at", "available_at"),
        CheckConstraint("subject_type in ('contact', 'account')", name="subject_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32), default="ingest")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint("scope in ('ingest', 'read', 'admin')", name="scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class StoredSecret(Base):
    """A CRM secret encrypted with Fernet (key derived from CX360_SECRET_KEY)."""

    __tablename__ = "stored_secrets"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    ciphertext: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """A webhook delivery id seen once; senders retry for days, so dedupe is durable."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("provider", "delivery_id", name="uq_webhook_deliveries_provider_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    delivery_id: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


SYNC_RUN_STATUSES = ("queued", "running", "succeeded", "partial", "failed")


class SyncRun(Base):
    """One push to the CRM: what it wrote, left alone, could not write, and what it cost."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        CheckConstraint(f"status in {SYNC_RUN_STATUSES!r}", name="status"),
        Index("ix_sync_runs_started_at", "started_at"),
        # only the few running runs: closing those whose worker is gone stays cheap
        Index("ix_sync_runs_running", "heartbeat_at", postgresql_where=text("status = 'running'"),
              sqlite_where=text("status = 'running'")),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16), default="outbox")  # outbox | api | cli
    crm: Mapped[str] = mapped_column(String(16), default="")
    dry_run: Mapped[bool] = mapped_column(default=False)
    full: Mapped[bool] = mapped_column(default=False)
    #: Forget the stored CRM ids and match everyone again (after a portal / org change).
    rematch: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    written: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    unmatched: Mapped[int] = mapped_column(Integer, default=0)
    tasks_created: Mapped[int] = mapped_column(Integer, default=0)
    api_calls: Mapped[int] = mapped_column(Integer, default=0)
    # [{subject, id, crm_id, reason, code}] and, for a dry run, the planned field changes.
    rejections: Mapped[list[Any] | None] = mapped_column(JSON)
    plan: Mapped[list[Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    #: A running run's lease: renewed while its worker works on it; a run whose lease ran
    #: out lost its worker (killed) and is closed as failed (``connector.sync.runs``).
    heartbeat_at: Mapped[datetime | None] = mapped_column()


class FollowUp(Base):
    """A follow-up task cx360 created (or is creating) in the CRM; one per detractor change."""

    __tablename__ = "follow_ups"
    __table_args__ = (UniqueConstraint("contact_id", "trigger_key", name="uq_follow_ups_trigger"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # What made it: the detractor change's time (nps.category_changed_at or nps.date).
    trigger_key: Mapped[str] = mapped_column(String(64))
    # The task as sent (title, body, due, owner, record), so a claim whose creation was cut
    # short (worker killed) is sent again, after a look-up of its follow-up key in the CRM.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    crm_task_id: Mapped[str | None] = mapped_column(String(64))
    # Until when the worker that claimed (or took over) the task alone may send it; a pending
    # task past it is looked up by its key and sent only when the CRM does not have it.
    lease_until: Mapped[datetime | None] = mapped_column()
    # The CRM refused this task as it is (its code and reason): it is not sent again.
    rejected_at: Mapped[datetime | None] = mapped_column()
    rejection: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CrmConnection(Base):
    """The CRM account the stored CRM ids belong to (one row): ``hubspot:<portal id>`` or
    ``salesforce:<org id>``. Ids of contacts, accounts, follow-up tasks and what was last
    written are valid only for this connection (``connector.sync.identity``)."""

    __tablename__ = "crm_connection"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    identity: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceHeartbeat(Base):
    """When a periodic part of the service last ran (``relay``: the outbox relay that beat
    schedules), so the web processes' readiness check can tell whether it still runs."""

    __tablename__ = "service_heartbeats"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: Its last run; None: not run yet.
    beat_at: Mapped[datetime | None] = mapped_column()
    #: Since when it is expected to run (the schema's creation or upgrade): readiness allows
    #: a first run this long to come.
    expected_since: Mapped[datetime] = mapped_column(default=utcnow)


class StoredRevenue(Base):
    """An account's revenue in the window as last read from the CRM (issue #22): the sum of
    its closed-won deals, the currency code beside it (``amount`` None: the CRM could not give
    one currency; ``note`` says why), how many deals, and when it was read."""

    __tablename__ = "account_revenues"
    __table_args__ = (
        CheckConstraint("deals >= 0", name="deals_not_negative"),
        CheckConstraint("currency IS NULL OR length(currency) = 3", name="currency_code"),
    )

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    amount: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    currency: Mapped[str | None] = mapped_column(String(3))
    deals: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text)
    read_at: Mapped[datetime] = mapped_column()
