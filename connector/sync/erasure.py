"""Erasure of one person: ``DELETE /api/v1/people/{email}``.

What goes: the contact row with its email, its survey responses, the employee ratings *of* it,
the ratings written *by* an employee with that email (their email is personal data too; the
rated customers' scores are recomputed without them), its scorecard, follow-up bookkeeping and
pending outbox rows. Nothing of the person remains in cx360's tables; the only trace is a log
line with the counts (no email).

In the CRM: every mapped cx360 field of the contact record is cleared (the record itself
belongs to the CRM and stays), and every subject whose scores the erasure changed (the
contact's account, contacts and accounts the employee rated) is written at once, including
fields that became empty — the normal push never writes null, so it could not do this.

The CRM writes happen before the database commits: when the CRM is unreachable the request
fails (503 or 502), nothing is deleted, and a retry does it all again (every step is
idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from connector.batching import chunked
from connector.crm.errors import RetriableCrmError
from connector.crm.field_changes import scorecard_field_values
from connector.crm.mapping import CrmMapping
from connector.crm.types import CrmAdapter, RecordUpdate, Subject
from connector.ingest import CHUNK
from connector.scorecards import recompute_accounts, recompute_contacts
from connector.scoring import ScoringConfig
from connector.storage import (
    Account,
    Contact,
    EmployeeRating,
    FollowUp,
    OutboxItem,
    Response,
    Scorecard,
)
from connector.sync.identity import verify_connection

log = logging.getLogger(__name__)


@dataclass
class ErasureReport:
    responses: int = 0
    ratings_of_person: int = 0
    ratings_by_person: int = 0
    crm_cleared_fields: int = 0
    crm_outcome: str = "not_in_crm"  # cleared | rejected | not_in_crm
    contacts_updated: int = 0
    accounts_updated: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _count(session: Session, statement: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(statement.subquery())) or 0)


def erase_person(
    session: Session,
    adapter: CrmAdapter | None,
    mapping: CrmMapping | None,
    email: str,
    *,
    now: datetime,
    scoring: ScoringConfig,
) -> ErasureReport | None:
    """Erase everything cx360 holds about ``email``; None when it knows nothing about it.

    The caller commits on success and rolls back on an exception (a CRM error included);
    ``ConnectionChanged`` when the stored CRM ids belong to another portal / org.
    """
    if adapter is not None:
        verify_connection(session, adapter, now=now)  # never clear fields by another CRM's ids
    key = email.strip().lower()
    contact = session.scalar(select(Contact).where(func.lower(Contact.email) == key))
    by_person = select(EmployeeRating.id, EmployeeRating.contact_id, EmployeeRating.account_id)
    by_person = by_person.where(EmployeeRating.employee == key)
    rated = session.execute(by_person).all()
    if contact is None and not rated:
        return None
    report = ErasureReport(ratings_by_person=len(rated))

    # Subjects whose scores change, other than the person themself.
    contacts_touched = {r.contact_id for r in rated if r.contact_id is not None}
    accounts_touched = {r.account_id for r in rated if r.account_id is not None}
    crm_id = None
    if contact is not None:
        contacts_touched.discard(contact.id)
        crm_id = contact.crm_id
        if contact.account_id is not None:
            accounts_touched.add(contact.account_id)
        report.responses = _count(session, select(Response.id).where(
            Response.contact_id == contact.id))  # fmt: skip
        report.ratings_of_person = _count(session, select(EmployeeRating.id).where(
            EmployeeRating.contact_id == contact.id, EmployeeRating.employee != key))  # fmt: skip
    for chunk in chunked(sorted(contacts_touched), CHUNK):
        accounts_touched.update(
            a
            for a in session.scalars(select(Contact.account_id).where(Contact.id.in_(chunk)))
            if a is not None
        )

    # The database side (flushed, committed by the caller after the CRM agreed).
    session.execute(delete(EmployeeRating).where(EmployeeRating.employee == key))
    if contact is not None:
        cid = contact.id
        session.execute(delete(Response).where(Response.contact_id == cid))
        session.execute(delete(EmployeeRating).where(EmployeeRating.contact_id == cid))
        session.execute(delete(FollowUp).where(FollowUp.contact_id == cid))
        session.execute(delete(Scorecard).where(
            Scorecard.subject_type == "contact", Scorecard.subject_id == cid))  # fmt: skip
        session.execute(delete(OutboxItem).where(
            OutboxItem.subject_type == "contact", OutboxItem.subject_id == cid))  # fmt: skip
        session.delete(contact)
    session.flush()
    recompute_contacts(session, contacts_touched, now=now, config=scoring)
    recompute_accounts(session, accounts_touched, now=now, config=scoring)
    session.flush()

    if adapter is None or mapping is None:
        return report
    if crm_id:
        fields = [f.field for f in mapping.contact.written()]
        outcome = adapter.write("contact", [RecordUpdate(crm_id, dict.fromkeys(fields))])
        status = outcome[0].status if outcome else "rejected"
        if status == "retriable":
            raise RetriableCrmError(f"clearing the contact's fields: {outcome[0].reason}")
        report.crm_outcome = "cleared" if status == "written" else "rejected"
        report.crm_cleared_fields = len(fields) if status == "written" else 0
        if status != "written":
            report.rejections.append({"subject": "contact", "reason": outcome[0].reason
                                      if outcome else "no reply"})  # fmt: skip
    report.contacts_updated = _rewrite(session, adapter, mapping, "contact", contacts_touched,
                                       report, now)  # fmt: skip
    report.accounts_updated = _rewrite(session, adapter, mapping, "account", accounts_touched,
                                       report, now)  # fmt: skip
    return report


def _rewrite(session: Session, adapter: CrmAdapter, mapping: CrmMapping, subject: Subject,
             ids: Iterable[int], report: ErasureReport, now: datetime) -> int:  # fmt: skip
    """Write the subjects' recomputed values, clearing fields whose metric is now empty."""
    model: Any = Contact if subject == "contact" else Account
    subject_mapping = mapping.for_subject(subject)
    planned: list[tuple[Scorecard, dict[str, Any], str]] = []
    for chunk in chunked(sorted(set(ids)), CHUNK):
        rows = session.execute(
            select(Scorecard, model.crm_id)
            .join(model, model.id == Scorecard.subject_id)
            .where(Scorecard.subject_type == subject, Scorecard.subject_id.in_(chunk))
        ).all()
        for card, crm_id in rows:
            if not crm_id:
                continue
            wanted = scorecard_field_values(card.values, subject_mapping)
            written = card.written or {}
            changes: dict[str, Any] = {f: v for f, v in wanted.items() if written.get(f) != v}
            changes.update(
                {f: None for f, v in written.items() if v is not None and f not in wanted}
            )
            if changes:
                planned.append((card, changes, crm_id))
    if not planned:
        return 0
    outcomes = {
        o.crm_id: o
        for batch in chunked(planned, adapter.max_batch)
        for o in adapter.write(subject, [RecordUpdate(c, ch) for _, ch, c in batch])
    }
    updated = 0
    for card, changes, crm_id in planned:
        outcome = outcomes.get(crm_id)
        if outcome is None or outcome.status == "retriable":
            raise RetriableCrmError(f"rewriting {subject} {crm_id} after an erasure")
        if outcome.status != "written":
            report.rejections.append({"subject": subject, "crm_id": crm_id,
                                      "reason": outcome.reason})  # fmt: skip
            continue
        merged = {**(card.written or {}), **changes}
        card.written = {k: v for k, v in merged.items() if v is not None}
        card.written_at = card.computed_at
        updated += 1
    return updated


def erased_log_line(report: ErasureReport) -> str:
    return (f"person erased: {report.responses} responses, {report.ratings_of_person} ratings "
            f"of them, {report.ratings_by_person} by them; CRM {report.crm_outcome}")  # fmt: skip
