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

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connector import batching
from connector.storage import Account, Contact, EmployeeRating, OutboxItem, Response, utcnow
from connector.storage.upsert import table_of, upsert_statement

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


def commit_with_retry(session: Session, work: Callable[[datetime], R], *, attempts: int = 2) -> R:
    """Run ``work(now)`` and commit; after a unique-key race, roll back and run it again.

    Two writers racing to create the same ``(source, external_id)``, contact or delivery id make
    one of them fail its unique constraint; run again, it finds the other's committed rows.
    """
    for attempt in range(1, attempts + 1):
        try:
            result = work(utcnow())
            session.commit()
            return result
        except IntegrityError:
            session.rollback()
            if attempt == attempts:
                raise
    raise AssertionError("attempts must be at least 1")


def chunked(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``connector.batching.chunked`` with the size that suits SQL ``IN`` lists."""
    return batching.chunked(items, size)


# -- contacts and accounts -------------------------------------------------------------------


def resolve_accounts(
    session: Session, keys: Iterable[tuple[str | None, str | None]]
) -> dict[tuple[str | None, str | None], int]:
    """Map ``(account_crm_id, account_domain)`` pairs to account ids, creating new accounts."""
    pairs = {k for k in keys if k[0] or k[1]}
    crm_ids = sorted({c for c, _ in pairs if c})
    domains = sorted({d for _, d in pairs if d})
    by_crm: dict[str, Account] = {}
    by_domain: dict[str, Account] = {}
    for chunk in chunked(crm_ids):
        by_crm.update((a.crm_id, a) for a in session.scalars(
            select(Account).where(Account.crm_id.in_(chunk))) if a.crm_id)  # fmt: skip
    for chunk in chunked(domains):
        by_domain.update((a.domain, a) for a in session.scalars(
            select(Account).where(Account.domain.in_(chunk))) if a.domain)  # fmt: skip
    resolved: dict[tuple[str | None, str | None], int] = {}
    for crm_id, domain in sorted(pairs, key=lambda k: (k[0] or "", k[1] or "")):
        account = (by_crm.get(crm_id) if crm_id else None) or (
            by_domain.get(domain) if domain else None
        )
        if account is None:
            # "" is no key: stored as such, a second keyless account would break crm_id unique
            account = Account(crm_id=crm_id or None, domain=domain or None)
            session.add(account)
        else:
            if crm_id and not account.crm_id:
                account.crm_id = crm_id
            if domain and not account.domain and domain not in by_domain:
                account.domain = domain
        if account.crm_id:
            by_crm[account.crm_id] = account
        if account.domain:
            by_domain[account.domain] = account
    session.flush()
    for crm_id, domain in pairs:
        account = (by_crm.get(crm_id) if crm_id else None) or by_domain[domain or ""]
        resolved[(crm_id, domain)] = account.id
    return resolved


def resolve_contacts(
    session: Session, items: Sequence[Mapping[str, Any]], account_ids: Sequence[int | None]
) -> list[int | None]:
    """The contact id of each item (by CRM id, else email), creating contacts cx360 lacks.

    Items with neither key (account-only ratings) get None. A contact's account follows the
    latest item that names one.
    """
    crm_ids = sorted({i["crm_id"] for i in items if i.get("crm_id")})
    emails = sorted({i["email"] for i in items if i.get("email")})
    by_crm: dict[str, tuple[int, str | None, int | None]] = {}
    by_email: dict[str, tuple[int, str | None, int | None]] = {}
    columns = (Contact.id, Contact.crm_id, Contact.email, Contact.account_id)
    for chunk in chunked(crm_ids):
        for cid, crm, email, acc in session.execute(
            select(*columns).where(Contact.crm_id.in_(chunk))
        ):
            by_crm[str(crm)] = (cid, email, acc)
            if email:
                by_email[email] = (cid, crm, acc)
    for chunk in chunked(emails):
        for cid, crm, email, acc in session.execute(
            select(*columns).where(Contact.email.in_(chunk))
        ):
            by_email[str(email)] = (cid, crm, acc)
            if crm:
                by_crm[crm] = (cid, email, acc)

    # New contacts: one row per distinct person key among the items not found.
    new_rows: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    for item, account_id in zip(items, account_ids, strict=True):
        crm, email = item.get("crm_id"), item.get("email")
        if not crm and not email:
            continue
        if (crm and crm in by_crm) or (email and email in by_email):
            continue
        key = (crm, email)
        row = new_rows.setdefault(key, {"crm_id": crm, "email": email, "account_id": None})
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
        unique_rows = list({id(r): r for r in merged.values()}.values())
        # RETURNING the natural keys (not in parameter order) keeps SQLite's inserts batched.
        account_of = {(r["crm_id"], r["email"]): r["account_id"] for r in unique_rows}
        for chunk in chunked(unique_rows, 2000):
            table = table_of(Contact)
            result = session.execute(
                insert(table).returning(table.c.id, table.c.crm_id, table.c.email), list(chunk)
            )
            for cid, crm, email in result:
                account_id = account_of[(crm, email)]
                if crm:
                    by_crm[crm] = (cid, email, account_id)
                if email:
                    by_email[email] = (cid, crm, account_id)

    contact_ids: list[int | None] = []
    changes: dict[int, dict[str, Any]] = {}
    for item, account_id in zip(items, account_ids, strict=True):
        crm, email = item.get("crm_id"), item.get("email")
        found = (by_crm.get(crm) if crm else None) or (by_email.get(email) if email else None)
        if found is None:
            contact_ids.append(None)
            continue
        cid = found[0]
        contact_ids.append(cid)
        change = changes.setdefault(cid, {})
        if crm and crm not in by_crm:
            change["crm_id"] = crm
            by_crm[crm] = (cid, email, account_id)
        if email and email not in by_email:
            change["email"] = email
            by_email[email] = (cid, crm, account_id)
        current_account = found[2]
        if account_id and account_id != current_account:
            change["account_id"] = account_id
    updates = [{"id": cid, **change} for cid, change in changes.items() if change]
    if updates:
        session.execute(update(Contact), updates)
    return contact_ids


def _accounts_for(session: Session, items: Sequence[Mapping[str, Any]]) -> list[int | None]:
    keys = [(i.get("account_crm_id"), i.get("account_domain")) for i in items]
    resolved = resolve_accounts(session, keys)
    return [resolved.get(k) if (k[0] or k[1]) else None for k in keys]


def _contact_accounts(session: Session, contact_ids: Iterable[int]) -> set[int]:
    ids = sorted(set(contact_ids))
    accounts: set[int] = set()
    for chunk in chunked(ids):
        accounts.update(
            a
            for a in session.scalars(select(Contact.account_id).where(Contact.id.in_(chunk)))
            if a is not None
        )
    return accounts


# -- responses and ratings -------------------------------------------------------------------


def _upsert_items(
    session: Session,
    model: Any,
    rows: list[dict[str, Any]],
    compared: Sequence[str],
    result: IngestResult,
) -> None:
    """Insert new rows, update changed resends, leave identical resends alone."""
    keyed = [r for r in rows if r.get("external_id")]
    existing: dict[tuple[str, str], Any] = {}
    for source in sorted({r["source"] for r in keyed}):
        external_ids = sorted({r["external_id"] for r in keyed if r["source"] == source})
        for chunk in chunked(external_ids):
            for found in session.execute(
                select(model.id, model.external_id, *(getattr(model, c) for c in compared)).where(
                    model.source == source, model.external_id.in_(chunk)
                )
            ):
                existing[(source, found.external_id)] = found

    # The last item with a key wins inside one call (a batch may carry a resend of itself).
    last_index: dict[tuple[str, str], int] = {}
    for index, row in enumerate(rows):
        if row.get("external_id"):
            last_index[(row["source"], row["external_id"])] = index

    to_write: list[dict[str, Any]] = []
    write_slots: list[int] = []
    ids: list[int | None] = [None] * len(rows)
    for index, row in enumerate(rows):
        key = (row["source"], row["external_id"]) if row.get("external_id") else None
        if key and last_index[key] != index:
            continue
        old = existing.get(key) if key else None
        if old is not None:
            result.contact_ids.update(c for c in [getattr(old, "contact_id", None)] if c)
            result.account_ids.update(a for a in [getattr(old, "account_id", None)] if a)
            if all(getattr(old, c) == row.get(c) for c in compared):
                result.unchanged += 1
                ids[index] = old.id
                continue
            result.updated += 1
        else:
            result.created += 1
        to_write.append(row)
        write_slots.append(index)

    keyed_rows = [r for r in to_write if r.get("external_id")]
    plain_rows = [r for r in to_write if not r.get("external_id")]
    written: dict[int, int] = {}
    if keyed_rows:
        statement = upsert_statement(
            session, model, ("source", "external_id"), (*compared, "updated_at")
        )
        table = table_of(model)
        statement = statement.returning(table.c.id, table.c.source, table.c.external_id)
        for chunk in chunked(keyed_rows, 2000):
            by_key = {
                (source, external_id): new_id
                for new_id, source, external_id in session.execute(statement, list(chunk))
            }
            for row in chunk:
                written[id(row)] = by_key[(row["source"], row["external_id"])]
    if plain_rows:
        for chunk in chunked(plain_rows, 2000):
            table = table_of(model)
            returned = session.execute(
                insert(table).returning(table.c.id, sort_by_parameter_order=True), list(chunk)
            )
            for row, (new_id,) in zip(chunk, returned, strict=True):
                written[id(row)] = new_id
    for index, row in zip(write_slots, to_write, strict=True):
        ids[index] = written[id(row)]
    for index, row in enumerate(rows):
        if ids[index] is None and row.get("external_id"):
            ids[index] = ids[last_index[(row["source"], row["external_id"])]]
    result.ids = [i for i in ids if i is not None]


def write_outbox(
    session: Session, contact_ids: Iterable[int], account_ids: Iterable[int], *, now: datetime,
    reason: str = "ingest",
) -> None:  # fmt: skip
    """Record that these subjects changed; the relay turns the rows into push tasks."""
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
        session.execute(insert(table_of(OutboxItem)), rows)


def _store_rows(
    session: Session,
    model: Any,
    rows: list[dict[str, Any]],
    compared: Sequence[str],
    contact_ids: Sequence[int | None],
    account_ids: Sequence[int | None],
    now: datetime,
) -> IngestResult:
    """Upsert the rows, then record every touched contact and account in the outbox."""
    result = IngestResult()
    _upsert_items(session, model, rows, compared, result)
    result.contact_ids.update(c for c in contact_ids if c is not None)
    result.account_ids.update(a for a in account_ids if a is not None)
    result.account_ids |= _contact_accounts(session, result.contact_ids)
    write_outbox(session, result.contact_ids, result.account_ids, now=now)
    return result


def store_responses(
    session: Session, items: Sequence[Mapping[str, Any]], *, now: datetime
) -> IngestResult:
    """Store validated responses (``ResponseIn`` dicts) idempotently, with outbox rows."""
    account_ids = _accounts_for(session, items)
    contact_ids = resolve_contacts(session, items, account_ids)
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
    return _store_rows(session, Response, rows, RESPONSE_FIELDS, contact_ids, account_ids, now)


def store_ratings(
    session: Session, items: Sequence[Mapping[str, Any]], *, now: datetime
) -> IngestResult:
    """Store validated employee ratings (``RatingIn`` dicts) idempotently, with outbox rows.

    A rating naming a person rates that contact; one naming only an account rates the account.
    """
    account_ids = _accounts_for(session, items)
    contact_ids = resolve_contacts(session, items, account_ids)
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
    return _store_rows(session, EmployeeRating, rows, RATING_FIELDS, contact_ids, account_ids, now)


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
