"""Storing responses and employee ratings: idempotent, set-based, with the outbox.

Callers hand in items loaded by the API's input schemas (``ResponseIn``/``RatingIn``) and
commit. One call resolves the contacts and accounts the items name (creating them as cx360
learns of them), upserts the items on ``(source, external_id)`` so a resend updates rather than
duplicates, and writes one outbox row per touched contact and account in the same
transaction: the push work can never be lost once the data is committed.

Work is done in a few statements per call rather than per item, so a 10,000-row import is a
handful of round trips.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from connector.storage import (
    Account,
    Contact,
    Database,
    EmployeeRating,
    OutboxItem,
    Response,
    procedures,
)
from connector.storage.bulk import dialect_of, find_rows, in_keys, insert_rows, key_values
from connector.storage.conflicts import retry_transaction
from connector.storage.upsert import table_of

T = TypeVar("T")
R = TypeVar("R")
CHUNK = 500

RESPONSE_FIELDS = (
    "kind", "score", "comment", "contact_id", "account_id", "touchpoint", "channel", "answered_at",
)  # fmt: skip
RATING_FIELDS = (
    "employee", "contact_id", "account_id", "relationship", "potential", "comment", "rated_at",
)  # fmt: skip


@dataclass
class IngestResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    ids: list[int] = field(default_factory=list)
    contact_ids: set[int] = field(default_factory=set)
    account_ids: set[int] = field(default_factory=set)

    def merge(self, other: IngestResult) -> None:
        """Add another call's counts and touched subjects (ids stay this call's)."""
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.contact_ids |= other.contact_ids
        self.account_ids |= other.account_ids

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "ids": self.ids,
        }


def commit_with_retry(
    session: Session, work: Callable[[datetime], R], *, attempts: int | None = None
) -> R:
    """Run ``work(now)`` and commit, again after a unique-key race, deadlock or serialization
    failure (``connector.storage.conflicts.retry_transaction``)."""

    def work_and_commit(now: datetime) -> R:
        result = work(now)
        session.commit()
        return result

    return retry_transaction(work_and_commit, undo=session.rollback, attempts=attempts)


# -- contacts and accounts -------------------------------------------------------------------


def resolve_accounts(
    session: Session, keys: Iterable[tuple[str | None, str | None]], *, now: datetime
) -> dict[tuple[str | None, str | None], int]:
    """Map ``(account_crm_id, account_domain)`` pairs to account ids, creating new accounts."""
    pairs = {k for k in keys if k[0] or k[1]}
    table = table_of(Account)
    wanted = {"crm_id": {c for c, _ in pairs if c}, "domain": {d for _, d in pairs if d}}
    found = find_rows(session, table, ("id", "crm_id", "domain"), wanted)
    if found is None:
        return {}
    # An account as a dict (id None until inserted), so one can gain its second key here.
    by_crm: dict[str, dict[str, Any]] = {}
    by_domain: dict[str, dict[str, Any]] = {}
    for account_id, crm_id, domain in found:
        stored = {"id": account_id, "crm_id": crm_id, "domain": domain}
        if crm_id:
            by_crm[crm_id] = stored
        if domain:
            by_domain[domain] = stored
    created: list[dict[str, Any]] = []
    changed: dict[int, dict[str, Any]] = {}  # stored accounts that gained a key
    for crm_id, domain in sorted(pairs, key=lambda k: (k[0] or "", k[1] or "")):
        account = (by_crm.get(crm_id) if crm_id else None) or (
            by_domain.get(domain) if domain else None
        )
        if account is None:
            # "" is no key: stored as such, a second keyless account would break crm_id unique
            account = {"id": None, "crm_id": crm_id or None, "domain": domain or None}
            created.append(account)
        else:
            if crm_id and not account["crm_id"]:
                account["crm_id"] = crm_id
                changed[id(account)] = account
            if domain and not account["domain"] and domain not in by_domain:
                account["domain"] = domain
                changed[id(account)] = account
            if account["id"] is None:  # created above: inserted with both keys
                changed.pop(id(account), None)
        if account["crm_id"]:
            by_crm[account["crm_id"]] = account
        if account["domain"]:
            by_domain[account["domain"]] = account
    if created:
        new = {(a["crm_id"], a["domain"]): a for a in created}
        rows = [{"crm_id": crm_id, "domain": domain, "created_at": now, "updated_at": now}
                for crm_id, domain in new]  # fmt: skip
        for account_id, crm_id, domain in insert_rows(
            session, table, rows, returning=("id", "crm_id", "domain")
        ):
            new[(crm_id, domain)]["id"] = account_id
    updates = sorted(
        ({"id": a["id"], "crm_id": a["crm_id"], "domain": a["domain"], "updated_at": now}
         for a in changed.values()),
        key=lambda row: row["id"],
    )  # fmt: skip
    if updates:
        session.execute(update(Account), updates)
    resolved: dict[tuple[str | None, str | None], int] = {}
    for crm_id, domain in pairs:
        account = (by_crm.get(crm_id) if crm_id else None) or by_domain[domain or ""]
        resolved[(crm_id, domain)] = account["id"]
    return resolved


def resolve_contacts(
    session: Session,
    items: Sequence[Mapping[str, Any]],
    account_ids: Sequence[int | None],
    *,
    now: datetime,
) -> list[int | None]:
    """The contact id of each item (by CRM id, else email), creating contacts cx360 lacks.

    Items with neither key (account-only ratings) get None. A contact's account follows the
    latest item that names one.
    """
    return _resolve_contacts(session, items, account_ids, now)[0]


def _resolve_contacts(
    session: Session,
    items: Sequence[Mapping[str, Any]],
    account_ids: Sequence[int | None],
    now: datetime,
) -> tuple[list[int | None], dict[int, int | None]]:
    """``resolve_contacts`` plus each resolved contact's account after the call."""
    table = table_of(Contact)
    crm_ids = {i["crm_id"] for i in items if i.get("crm_id")}
    emails = {i["email"] for i in items if i.get("email")}
    found = find_rows(session, table, ("id", "crm_id", "email", "account_id"),
                      {"crm_id": crm_ids, "email": emails})  # fmt: skip
    if found is None:
        return [None] * len(items), {}
    by_crm: dict[str, int] = {}
    by_email: dict[str, int] = {}
    stored_account: dict[int, int | None] = {}
    for cid, crm, email, account_id in found:
        stored_account[cid] = account_id
        if crm:
            by_crm[crm] = cid
        if email:
            by_email[email] = cid

    # New contacts: one row per distinct person key among the items not found.
    new_rows: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    for item, account_id in zip(items, account_ids, strict=True):
        crm, email = item.get("crm_id"), item.get("email")
        if not crm and not email:
            continue
        if (crm and crm in by_crm) or (email and email in by_email):
            continue
        key = (crm, email)
        row = new_rows.setdefault(key, {"crm_id": crm, "email": email, "account_id": None,
                                        "created_at": now, "updated_at": now})  # fmt: skip
        row["account_id"] = account_id or row["account_id"]
    if new_rows:
        # Two items may name the same person once by email and once by email + CRM id.
        merged: dict[str, dict[str, Any]] = {}
        for (crm, email), row in new_rows.items():
            known = (merged.get(f"c:{crm}") if crm else None) or (
                merged.get(f"e:{email}") if email else None
            )
            if known:
                known["crm_id"] = known["crm_id"] or crm
                known["email"] = known["email"] or email
                known["account_id"] = row["account_id"] or known["account_id"]
                row = known
            if crm:
                merged[f"c:{crm}"] = row
            if email:
                merged[f"e:{email}"] = row
        # Inserted in key order, whatever the items' order: overlapping batches then take
        # the unique-index locks in one order and wait for each other instead of deadlocking.
        unique_rows = sorted({id(r): r for r in merged.values()}.values(),
                             key=lambda r: (r["crm_id"] or "", r["email"] or ""))  # fmt: skip
        account_of = {(r["crm_id"], r["email"]): r["account_id"] for r in unique_rows}
        for cid, crm, email in insert_rows(
            session, table, unique_rows, returning=("id", "crm_id", "email")
        ):
            stored_account[cid] = account_of[(crm, email)]
            if crm:
                by_crm[crm] = cid
            if email:
                by_email[email] = cid

    contact_ids: list[int | None] = []
    accounts = dict(stored_account)
    changes: dict[int, dict[str, Any]] = {}
    for item, account_id in zip(items, account_ids, strict=True):
        crm, email = item.get("crm_id"), item.get("email")
        cid = (by_crm.get(crm) if crm else None) or (by_email.get(email) if email else None)
        contact_ids.append(cid)
        if cid is None:
            continue
        change = changes.setdefault(cid, {})
        if crm and crm not in by_crm:
            change["crm_id"] = crm
            by_crm[crm] = cid
        if email and email not in by_email:
            change["email"] = email
            by_email[email] = cid
        if account_id:
            accounts[cid] = account_id
    for cid, change in changes.items():
        if accounts[cid] != stored_account[cid]:
            change["account_id"] = accounts[cid]
    updates = [
        {"id": cid, **change, "updated_at": now}
        for cid, change in sorted(changes.items())
        if change
    ]
    if updates:
        session.execute(update(Contact), updates)
    return contact_ids, {cid: accounts[cid] for cid in changes}


# -- responses and ratings -------------------------------------------------------------------


@functools.cache
def _existing_statement(dialect: str, table: Table, compared: tuple[str, ...]) -> Select[Any]:
    """Stored items of one source by external id, with their contact's account."""
    contacts = table_of(Contact)
    return (
        select(table.c.id, table.c.external_id, *(table.c[c] for c in compared),
               contacts.c.account_id.label("contact_account_id"))
        .outerjoin(contacts, contacts.c.id == table.c.contact_id)
        .where(table.c.source == bindparam("source"),
               in_keys(dialect, table.c.external_id, "external_id"))
    )  # fmt: skip


def _upsert_items(
    session: Session,
    model: Any,
    rows: list[dict[str, Any]],
    compared: Sequence[str],
    result: IngestResult,
) -> None:
    """Insert new rows, update changed resends, leave identical resends alone.

    A resend's previous contact and account (and that contact's account) count as touched.
    """
    table = table_of(model)
    existing: dict[tuple[str, str], Any] = {}
    sources: dict[str, set[str]] = {}
    for row in rows:
        if row.get("external_id"):
            sources.setdefault(row["source"], set()).add(row["external_id"])
    dialect = dialect_of(session)
    statement = _existing_statement(dialect, table, tuple(compared))
    for source, external_ids in sorted(sources.items()):
        values = {"source": source, "external_id": key_values(dialect, sorted(external_ids))}
        for found in session.execute(statement, values):
            existing[(source, found.external_id)] = found

    # The last item with a key wins inside one call (a batch may carry a resend of itself).
    last_index: dict[tuple[str, str], int] = {}
    for index, row in enumerate(rows):
        if row.get("external_id"):
            last_index[(row["source"], row["external_id"])] = index

    keyed_rows: list[dict[str, Any]] = []
    plain_rows: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        key = (row["source"], row["external_id"]) if row.get("external_id") else None
        if key is None:
            result.created += 1
            plain_rows.append(row)
            continue
        if last_index[key] != index:
            continue
        old = existing.get(key)
        if old is not None:
            if old.contact_id:
                result.contact_ids.add(old.contact_id)
            result.account_ids.update(a for a in (old.account_id, old.contact_account_id) if a)
            if all(getattr(old, c) == row.get(c) for c in compared):
                result.unchanged += 1
                continue
            result.updated += 1
        else:
            result.created += 1
        keyed_rows.append(row)

    ids_by_key = {key: old.id for key, old in existing.items()}
    # Upserted in key order, whatever the items' order (see ``_resolve_contacts``).
    keyed_rows.sort(key=lambda row: (row["source"], row["external_id"]))
    if keyed_rows:
        ids_by_key.update(
            ((source, external_id), new_id)
            for new_id, source, external_id in insert_rows(
                session, table, keyed_rows, returning=("id", "source", "external_id"),
                conflict=("source", "external_id"), update=(*compared, "updated_at"),
            )
        )  # fmt: skip
    plain_ids: Iterator[int] = iter(())
    if plain_rows:  # inserted rows take ascending ids in the order given
        returned = insert_rows(session, table, plain_rows, returning=("id",))
        plain_ids = iter(sorted(i for (i,) in returned))
    result.ids = [
        ids_by_key[(row["source"], row["external_id"])] if row.get("external_id")
        else next(plain_ids)
        for row in rows
    ]  # fmt: skip


def write_outbox(
    session: Session, contact_ids: Iterable[int], account_ids: Iterable[int], *, now: datetime,
    reason: str = "ingest",
) -> None:  # fmt: skip
    """Record that these subjects changed; the relay turns the rows into push tasks."""
    if dialect_of(session) == "postgresql":
        contacts, accounts = sorted(set(contact_ids)), sorted(set(account_ids))
        if contacts or accounts:
            session.execute(procedures.WRITE_OUTBOX, {"contacts": contacts, "accounts": accounts,
                                                      "now": now, "reason": reason})  # fmt: skip
        return
    rows = [
        {"subject_type": "contact", "subject_id": cid, "reason": reason, "created_at": now,
         "available_at": now, "attempts": 0}
        for cid in sorted(set(contact_ids))
    ] + [
        {"subject_type": "account", "subject_id": aid, "reason": reason, "created_at": now,
         "available_at": now, "attempts": 0}
        for aid in sorted(set(account_ids))
    ]  # fmt: skip
    if rows:
        insert_rows(session, table_of(OutboxItem), rows)


def _store_rows(
    session: Session,
    model: Any,
    rows: list[dict[str, Any]],
    compared: Sequence[str],
    contact_accounts: Mapping[int, int | None],
    account_ids: Sequence[int | None],
    now: datetime,
    outbox: bool,
) -> IngestResult:
    """Upsert the rows, then record every touched contact and account in the outbox."""
    result = IngestResult()
    _upsert_items(session, model, rows, compared, result)
    result.contact_ids.update(contact_accounts)
    result.account_ids.update(a for a in account_ids if a is not None)
    result.account_ids.update(a for a in contact_accounts.values() if a is not None)
    if outbox:
        write_outbox(session, result.contact_ids, result.account_ids, now=now)
    return result


def _subjects(
    session: Session, items: Sequence[Mapping[str, Any]], now: datetime
) -> tuple[list[int | None], list[int | None], dict[int, int | None]]:
    """Each item's account and contact ids, and the resolved contacts' accounts."""
    keys = [(i.get("account_crm_id"), i.get("account_domain")) for i in items]
    resolved = resolve_accounts(session, keys, now=now)
    account_ids = [resolved.get(k) if (k[0] or k[1]) else None for k in keys]
    contact_ids, contact_accounts = _resolve_contacts(session, items, account_ids, now)
    return account_ids, contact_ids, contact_accounts


def _store_one(session: Session, kind: str, item: Mapping[str, Any], now: datetime) -> IngestResult:
    """One item on PostgreSQL in the session's transaction: a single statement
    (``connector.storage.procedures``)."""
    return _one_result(procedures.store_one(session, kind, item, now))


def _one_result(stored: Mapping[str, Any]) -> IngestResult:
    """The ``IngestResult`` of a store function's answer."""
    result = IngestResult(ids=[stored["id"]], contact_ids=set(stored["contact_ids"]),
                          account_ids=set(stored["account_ids"]))  # fmt: skip
    setattr(result, stored["outcome"], 1)
    return result


def _one_statement(session: Session, items: Sequence[Mapping[str, Any]]) -> bool:
    return len(items) == 1 and dialect_of(session) == "postgresql"


def stores_by_statement(database: Database, items: Sequence[Mapping[str, Any]]) -> bool:
    """Whether ``store_committed`` takes these items: one item, on PostgreSQL."""
    return len(items) == 1 and database.engine.dialect.name == "postgresql"


def store_committed(database: Database, kind: str, item: Mapping[str, Any]) -> IngestResult:
    """Store one item (``"response"`` or ``"rating"``) and commit, in one round trip.

    For a caller whose transaction would be this one store and nothing else (the API). The
    item is one statement on PostgreSQL, atomic by itself, so it runs in autocommit on a
    pooled driver connection (``Database.scalar_committed``): no BEGIN and COMMIT, and none of
    the ORM session's or Core's work, which together were half of a one-response request's
    client CPU. A lost race is retried as ``commit_with_retry`` does.
    """
    return retry_transaction(
        lambda now: _one_result(procedures.store_one_committed(database, kind, item, now)),
        undo=lambda: None,
    )


def store_responses(
    session: Session, items: Sequence[Mapping[str, Any]], *, now: datetime, outbox: bool = True
) -> IngestResult:
    """Store validated responses (``ResponseIn`` dicts) idempotently, with outbox rows.

    ``outbox=False`` leaves the outbox rows to the caller, for one ``write_outbox`` of every
    subject after many calls (``cx360 import``: a person in every chunk gets one row, not one
    per chunk).
    """
    if outbox and _one_statement(session, items):
        return _store_one(session, "response", items[0], now)
    account_ids, contact_ids, contact_accounts = _subjects(session, items, now)
    rows = []
    for item, contact_id, account_id in zip(items, contact_ids, account_ids, strict=True):
        rows.append({
            "source": item.get("source") or "api",
            "external_id": item.get("external_id"),
            "kind": item["kind"],
            "score": item["score"],
            "comment": item.get("comment"),
            "contact_id": contact_id,
            "account_id": account_id,
            "touchpoint": item.get("touchpoint"),
            "channel": item.get("channel"),
            "answered_at": item.get("answered_at") or now,
            "received_at": now,
            "updated_at": now,
        })  # fmt: skip
    return _store_rows(session, Response, rows, RESPONSE_FIELDS, contact_accounts, account_ids,
                       now, outbox)  # fmt: skip


def store_ratings(
    session: Session, items: Sequence[Mapping[str, Any]], *, now: datetime, outbox: bool = True
) -> IngestResult:
    """Store validated employee ratings (``RatingIn`` dicts) idempotently, with outbox rows.

    A rating naming a person rates that contact; one naming only an account rates the account.
    ``outbox`` as for ``store_responses``.
    """
    if outbox and _one_statement(session, items):
        return _store_one(session, "rating", items[0], now)
    account_ids, contact_ids, contact_accounts = _subjects(session, items, now)
    rows = []
    for item, contact_id, account_id in zip(items, contact_ids, account_ids, strict=True):
        rows.append({
            "source": item.get("source") or "api",
            "external_id": item.get("external_id"),
            "employee": item["employee"],
            "contact_id": contact_id,
            "account_id": None if contact_id else account_id,
            "relationship": item["relationship"],
            "potential": item["potential"],
            "comment": item.get("comment"),
            "rated_at": item.get("rated_at") or now,
            "received_at": now,
            "updated_at": now,
        })  # fmt: skip
    return _store_rows(session, EmployeeRating, rows, RATING_FIELDS, contact_accounts,
                       account_ids, now, outbox)  # fmt: skip


def find_contact(session: Session, key: str) -> Contact | None:
    """A contact by email (contains @) or CRM id."""
    key = key.strip()
    if "@" in key:
        return session.scalar(select(Contact).where(Contact.email == key.lower()))
    return session.scalar(select(Contact).where(Contact.crm_id == key))


def find_account(session: Session, key: str) -> Account | None:
    """An account by domain or CRM id."""
    key = key.strip()
    return session.scalar(
        select(Account).where(or_(Account.crm_id == key, Account.domain == key.lower()))
    )
