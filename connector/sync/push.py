"""Recompute and push: from changed subjects to written CRM fields.

For a set of changed contacts and accounts, ``Pusher.push`` resolves the ones cx360 has no
CRM id for yet (bulk, by email or domain), recomputes their scorecards, diffs each against what
was last written, writes only changed fields in the adapter's largest batches, records every
record's outcome, and creates each follow-up task once. Its report is what a sync run shows.

It commits after each batch, so what reached the CRM is recorded before the next call; a crash
in between repeats at most one batch, which is harmless because values are idempotent and the
follow-up task row is written before the task is created.

Follow-up tasks are kept once without relying on the CRM to keep their key unique (HubSpot
documents no unique-value properties on tasks): the claim that commits with the write holds a
lease; the claiming worker creates the task and records its id. A task still pending when its
lease has run out (the worker was killed, or the CRM call failed) is taken over by one push,
which looks its key up in the CRM first and creates it only when the CRM does not have it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from connector.batching import chunked
from connector.crm.errors import RetriableCrmError
from connector.crm.field_changes import field_changes, follow_up_task
from connector.crm.mapping import CrmMapping
from connector.crm.types import (
    CrmAdapter,
    CrmRecordRef,
    FollowUpTask,
    RecordKey,
    RecordUpdate,
    Subject,
)
from connector.ingest import CHUNK, write_outbox
from connector.scorecards import (
    recompute_accounts,
    recompute_contacts,
    record_written,
    rows_where_in,
)
from connector.scoring import ScoringConfig
from connector.storage import Account, Contact, FollowUp, Scorecard, utcnow
from connector.storage.bulk import upsert_insert
from connector.storage.conflicts import retry_transaction
from connector.sync.identity import verify_connection

log = logging.getLogger(__name__)

#: A write refused because the record is gone: HubSpot ``OBJECT_NOT_FOUND`` (deleted or
#: archived), Salesforce ``ENTITY_IS_DELETED`` (deleted, merged away) and
#: ``INVALID_CROSS_REFERENCE_KEY`` (no such record). The id is dropped and the subject found
#: again by email / domain in the same push.
GONE_CODES = frozenset({"OBJECT_NOT_FOUND", "ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"})


def follow_up_key(contact_id: int, trigger_key: str) -> str:
    """The task's idempotency key: one per contact and detractor change (≤ 80 characters)."""
    digest = hashlib.sha256(trigger_key.encode()).hexdigest()[:16]
    return f"cx360-{contact_id}-{digest}"


def task_payload(task: FollowUpTask) -> dict[str, Any]:
    return {**asdict(task), "due": task.due.isoformat()}


def task_from_payload(payload: dict[str, Any]) -> FollowUpTask:
    return FollowUpTask(**{**payload, "due": date.fromisoformat(payload["due"])})


@dataclass
class PushReport:
    written: int = 0
    unchanged: int = 0
    rejected: int = 0
    unmatched: int = 0
    tasks_created: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)
    #: Accounts the CRM named for newly resolved contacts (pushed after the contacts).
    linked_accounts: set[int] = field(default_factory=set)
    #: Subjects whose write hit a transient per-record error; push them again later.
    retry_contacts: set[int] = field(default_factory=set)
    retry_accounts: set[int] = field(default_factory=set)

    def merge(self, other: PushReport) -> None:
        for name in ("written", "unchanged", "rejected", "unmatched", "tasks_created"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejections.extend(other.rejections)
        self.plan.extend(other.plan)
        self.linked_accounts |= other.linked_accounts
        self.retry_contacts |= other.retry_contacts
        self.retry_accounts |= other.retry_accounts


@dataclass(frozen=True, slots=True)
class _Card:
    """A subject's scorecard as the push needs it: plain values, not an ORM object (a push
    handles thousands; tracking each as an ORM object cost more than the rest of the diff)."""

    id: int
    values: dict[str, Any]
    computed_at: datetime
    written: dict[str, Any] | None
    written_at: datetime | None


@dataclass
class _Pending:
    """One record's planned write."""

    subject_id: int
    crm_id: str
    changes: dict[str, Any]
    card: _Card
    task: FollowUpTask | None = None
    trigger_key: str | None = None


#: How long the worker that claimed a follow-up task alone may send it (the outbox lease in a
#: deployment, CX360_OUTBOX_LEASE_SECONDS): longer than a CRM call and than the CRM's search
#: index lag, so a look-up after it finds a task that was created.
TASK_LEASE = timedelta(seconds=300)


class Pusher:
    def __init__(
        self,
        session: Session,
        adapter: CrmAdapter,
        mapping: CrmMapping,
        scoring: ScoringConfig,
        *,
        now: datetime,
        dry_run: bool = False,
        full: bool = False,
        task_lease: timedelta = TASK_LEASE,
    ) -> None:
        self.session = session
        self.task_lease = task_lease
        self.adapter = adapter
        self.mapping = mapping
        self.scoring = scoring
        self.now = now
        self.dry_run = dry_run
        self.full = full

    # -- resolution ------------------------------------------------------------------------

    def _resolve_contacts(self, contacts: Sequence[Contact], report: PushReport,
                          gone: Mapping[int, str] | None = None) -> set[int]:  # fmt: skip
        """Give contacts without a CRM id one, by email; returns accounts newly linked.
        ``gone`` (contact id -> the id of its record that is gone) lets the CRM follow a
        merge to the record that remains before the email is tried."""
        linked: set[int] = set()
        gone = gone or {}
        unresolved = [c for c in contacts if not c.crm_id and (c.email or c.id in gone)]
        if not unresolved:
            return linked
        keys = {c.id: RecordKey(crm_id=gone.get(c.id), email=c.email) for c in unresolved}
        found = self.adapter.resolve_contacts(keys.values())
        taken = self._taken_crm_ids(Contact, [r.crm_id for r in found.values()])
        known = self._accounts_by_crm_id({r.account_crm_id for r in found.values()} - {None})
        for contact in unresolved:
            contact.unmatched_checked_at = self.now
            ref = found.get(keys[contact.id])
            if ref is None or ref.crm_id in taken:
                contact.unmatched_since = contact.unmatched_since or self.now
                continue
            contact.crm_id = ref.crm_id
            contact.crm_owner_id = ref.owner_id
            contact.unmatched_since = None
            if ref.account_crm_id:
                account_id = self._link_account(contact, ref.account_crm_id, known)
                if account_id is not None:
                    linked.add(account_id)
        self.session.flush()
        return linked

    def _taken_crm_ids(self, model: Any, crm_ids: Iterable[str]) -> set[str]:
        wanted = sorted(set(crm_ids))
        taken: set[str] = set()
        for chunk in chunked(wanted, CHUNK):
            taken.update(self.session.scalars(select(model.crm_id).where(model.crm_id.in_(chunk))))
        return taken

    def _accounts_by_crm_id(self, crm_ids: Iterable[Any]) -> dict[str, Account]:
        """The known accounts among these CRM ids, in one query per chunk (not one per contact:
        each single query also flushes the session, which made resolution slow)."""
        found: dict[str, Account] = {}
        for chunk in chunked(sorted(crm_ids), CHUNK):
            for account in self.session.scalars(select(Account).where(Account.crm_id.in_(chunk))):
                found[str(account.crm_id)] = account
        return found

    def _link_account(self, contact: Contact, account_crm_id: str, known: dict[str, Account]
                      ) -> int | None:  # fmt: skip
        account = known.get(account_crm_id)
        if account is None and contact.account is not None and not contact.account.crm_id:
            contact.account.crm_id = account_crm_id  # the CRM names the account cx360 knew
            account = contact.account
        if account is None:
            account = Account(crm_id=account_crm_id)
            self.session.add(account)
            self.session.flush()
        known[account_crm_id] = account
        if contact.account_id is None:
            contact.account_id = account.id
        return account.id

    def _resolve_accounts(self, accounts: Sequence[Account],
                          gone: Mapping[int, str] | None = None) -> None:  # fmt: skip
        """Give accounts without a CRM id one, by domain (``gone``: as for contacts)."""
        gone = gone or {}
        unresolved = [a for a in accounts if not a.crm_id and (a.domain or a.id in gone)]
        if not unresolved:
            return
        keys = {a.id: RecordKey(crm_id=gone.get(a.id), domain=a.domain) for a in unresolved}
        found = self.adapter.resolve_accounts(keys.values())
        taken = self._taken_crm_ids(Account, [r.crm_id for r in found.values()])
        for account in unresolved:
            ref = found.get(keys[account.id])
            if ref is None or ref.crm_id in taken:
                account.unmatched_since = account.unmatched_since or self.now
                continue
            account.crm_id = ref.crm_id
            account.unmatched_since = None
        self.session.flush()

    def _owners(self, contacts: Sequence[Contact]) -> None:
        """Fetch owners for contacts cx360 got by CRM id (a task needs someone to assign)."""
        missing = [c for c in contacts if c.crm_id and not c.crm_owner_id]
        if not missing:
            return
        found = self.adapter.resolve_contacts(RecordKey(crm_id=c.crm_id) for c in missing)
        for contact in missing:
            ref = found.get(RecordKey(crm_id=contact.crm_id))
            if ref is not None:
                contact.crm_owner_id = ref.owner_id

    def _task_owners(self, matched: Sequence[Contact], planned: Sequence[_Pending],
                     known_before: set[int]) -> None:  # fmt: skip
        """Owners for the follow-up tasks about to be created. Only contacts getting a task need
        one, and a contact resolved by email in this push already came with its owner: reading
        every contact's owner again would cost a read call per 100 contacts on every push."""
        if self.dry_run:
            return
        by_id = {c.id: c for c in matched}
        needs = [p for p in planned if p.task is not None and p.subject_id in known_before]
        self._owners([by_id[p.subject_id] for p in needs])
        for pending in needs:
            owner = by_id[pending.subject_id].crm_owner_id
            if owner and pending.task is not None and pending.task.owner_id is None:
                pending.task = replace(pending.task, owner_id=owner)

    # -- planning and writing ----------------------------------------------------------------

    def _plan(self, subject: Subject, crm_id: str, subject_id: int, card: _Card,
              report: PushReport, email: str | None = None, owner: str | None = None,
              ) -> _Pending | None:  # fmt: skip
        subject_mapping = self.mapping.for_subject(subject)
        last = None if self.full else card.written
        changes = field_changes(
            card.values,
            subject_mapping,
            last,
            as_of=card.computed_at,
            last_written_as_of=None if self.full else card.written_at,
            clear_all_empty=self.full,
        )
        if not changes:
            report.unchanged += 1
            return None
        pending = _Pending(subject_id=subject_id, crm_id=crm_id, changes=changes, card=card)
        if subject == "contact":
            pending.task = follow_up_task(
                card.values,
                self.mapping,
                CrmRecordRef(crm_id=crm_id, owner_id=owner),
                card.written,
                today=self.now.date(),
                email=email,
            )
            if pending.task is not None:
                values = card.values
                pending.trigger_key = str(
                    values.get("nps.category_changed_at") or values.get("nps.date") or ""
                )[:64]
                pending.task = replace(
                    pending.task, key=follow_up_key(subject_id, pending.trigger_key)
                )
        if self.dry_run:
            report.plan.append(
                {"subject": subject, "id": subject_id, "crm_id": crm_id, "changes": changes,
                 "follow_up_task": pending.task.title if pending.task else None}
            )  # fmt: skip
        return pending

    def _write(self, subject: Subject, planned: list[_Pending], report: PushReport
               ) -> list[_Pending]:  # fmt: skip
        """Write the planned changes; returns those refused because the record is gone."""
        gone: list[_Pending] = []
        # Above the adapter's bulk threshold (Salesforce: Bulk API 2.0) the whole plan goes in
        # one call, so a large backfill is a handful of bulk-job calls, not one per 200.
        bulk_threshold = getattr(self.adapter, "bulk_threshold", None)
        size = len(planned) if bulk_threshold and len(planned) > bulk_threshold else None
        for batch in chunked(planned, size or self.adapter.max_batch):
            outcomes = self.adapter.write(
                subject, [RecordUpdate(crm_id=p.crm_id, values=p.changes) for p in batch]
            )
            by_id = {o.crm_id: o for o in outcomes}
            tasked: list[_Pending] = []
            written: list[dict[str, Any]] = []
            for pending in batch:
                outcome = by_id.get(pending.crm_id)
                if outcome is None or outcome.status == "retriable":
                    retry = report.retry_contacts if subject == "contact" else report.retry_accounts
                    retry.add(pending.subject_id)
                    continue
                if outcome.status == "rejected" and outcome.code in GONE_CODES:
                    gone.append(pending)
                    continue
                if outcome.status == "rejected":
                    report.rejected += 1
                    report.rejections.append(
                        {"subject": subject, "id": pending.subject_id, "crm_id": pending.crm_id,
                         "code": outcome.code, "reason": outcome.reason}
                    )  # fmt: skip
                    continue
                report.written += 1
                card = pending.card
                written.append(
                    {"id": card.id, "written": {**(card.written or {}), **pending.changes},
                     "written_at": card.computed_at}
                )  # fmt: skip
                if pending.task is not None:
                    tasked.append(pending)
            # What was written and the follow-up tasks it calls for commit together: a failed
            # commit leaves both unrecorded, so the next push plans the change and its task again.
            # A transaction that lost a race with a concurrent push (a deadlock) is recorded again.
            claimed = retry_transaction(
                functools.partial(self._record_batch, tasked, written), undo=self.session.rollback
            )
            self._send_tasks(claimed, report)
        return gone

    def _write_again(self, subject: Subject, gone: list[_Pending], report: PushReport) -> None:
        """The records of ``gone`` no longer exist: drop their ids, follow a merge to the record
        that remains (or else find the subjects again by email / domain), and write their
        whole scorecard to the live record, once. A subject not found (or whose new record is
        gone as well) is unmatched until a later push finds it: never the same refusal on
        every push."""
        model: Any = Contact if subject == "contact" else Account
        rows = {row.id: row for row in self._load(model, [p.subject_id for p in gone])}
        self._match_again(subject, rows, report)
        replanned = []
        for pending in gone:
            row = rows[pending.subject_id]
            if not row.crm_id:
                report.unmatched += 1
                continue
            card = replace(pending.card, written=None, written_at=None)  # a new record
            again = self._plan(subject, str(row.crm_id), row.id, card, report,
                               email=getattr(row, "email", None),
                               owner=getattr(row, "crm_owner_id", None))  # fmt: skip
            if again is not None:
                replanned.append(again)
        self.session.commit()
        for pending in self._write(subject, replanned, report):
            rows[pending.subject_id].crm_id = None  # gone again: unmatched until found
            report.unmatched += 1
        self.session.commit()

    def _match_again(self, subject: Subject, rows: Mapping[int, Any], report: PushReport) -> None:
        """These subjects' CRM records are gone: drop the ids and what was written to them,
        then follow a merge to the record that remains, or else find the subjects again by
        email / domain (an unmatched subject keeps no id)."""
        dead = {row.id: str(row.crm_id) for row in rows.values() if row.crm_id}
        for row in rows.values():
            log.info("%s %s: CRM record %s is gone; matching again", subject, row.id, row.crm_id)
            row.crm_id = None
            if subject == "contact":
                row.crm_owner_id = None
        # What was written went to the dead record: the live one gets everything.
        for chunk in chunked(sorted(rows), CHUNK):
            self.session.execute(
                update(Scorecard)
                .where(Scorecard.subject_type == subject, Scorecard.subject_id.in_(chunk))
                .values(written=None, written_at=None)
            )
        self.session.flush()
        if subject == "contact":
            linked = self._resolve_contacts(list(rows.values()), report, gone=dead)
            if linked:
                write_outbox(self.session, [], linked, now=self.now, reason="linked")
                report.linked_accounts |= linked
        else:
            self._resolve_accounts(list(rows.values()), gone=dead)

    def _record_batch(
        self, tasked: Sequence[_Pending], written: list[dict[str, Any]], _now: datetime
    ) -> list[FollowUp]:
        """Claim the batch's follow-up tasks and record what was written, and commit."""
        claimed = self._claim_tasks(tasked)
        record_written(self.session, written)
        self.session.commit()
        return claimed

    def _claim_tasks(self, tasked: Sequence[_Pending]) -> list[FollowUp]:
        """Claim the follow-up tasks of written changes, once per contact and change.

        One ``INSERT … ON CONFLICT DO NOTHING RETURNING`` for the batch: a pair claimed before
        (an earlier run, a duplicate delivery) returns no row and is not sent. Each row keeps
        the task as sent and a lease: a worker killed between the claim and recording the
        CRM's answer leaves the row pending, and a push after the lease looks the task's key
        up before sending it again (``_resend_pending``).
        """
        if not tasked:
            return []
        lease_until = utcnow() + self.task_lease
        values = [
            {"contact_id": p.subject_id, "trigger_key": p.trigger_key or "",
             "payload": task_payload(p.task), "created_at": self.now, "lease_until": lease_until}
            for p in tasked if p.task is not None
        ]  # fmt: skip
        insert = upsert_insert(self.session, FollowUp).on_conflict_do_nothing(
            index_elements=["contact_id", "trigger_key"]
        )
        return list(self.session.scalars(insert.returning(FollowUp), values))

    def _send_tasks(
        self, rows: list[FollowUp], report: PushReport, *, look_up: bool = False
    ) -> None:
        """Send the claimed tasks and record each answer; with ``look_up`` (tasks taken over
        after their lease), a task the CRM already has under its key is recorded, not sent.

        Created: the CRM's id is kept. Refused for a transient reason: the row stays pending
        and the contact's next push sends it again. Rejected (the CRM refuses this task as it
        is, e.g. an owner no longer active or a priority it does not know): the row records
        why and is not sent again, since its payload would be refused the same way; the run
        lists it among its rejections.
        """
        bound = self._bound_to_current_records(rows)
        if look_up and bound:
            found = self.adapter.find_tasks([str(task.key) for _, task in bound if task.key])
            for row, task in bound:
                if task.key in found:
                    row.crm_task_id = found[task.key]
                    log.info("follow-up task for contact %s found in the CRM as %s",
                             row.contact_id, row.crm_task_id)  # fmt: skip
            bound = [(row, task) for row, task in bound if row.crm_task_id is None]
        if not bound:
            self.session.commit()
            return
        rows = [row for row, _ in bound]
        outcomes = self.adapter.create_tasks([task for _, task in bound])
        self.session.flush()
        second: list[str] = []
        for row, outcome in zip(rows, outcomes, strict=False):
            if outcome.status == "written":
                if self._record_task(row, str(outcome.created_id)):
                    report.tasks_created += 1
                else:
                    second.append(str(outcome.created_id))
            elif outcome.status == "rejected":
                row.rejected_at = self.now
                row.rejection = ": ".join(str(x) for x in (outcome.code, outcome.reason) if x)
                report.rejections.append(
                    {"subject": "follow_up_task", "id": row.contact_id,
                     "crm_id": outcome.crm_id, "code": outcome.code, "reason": outcome.reason}
                )  # fmt: skip
                log.warning("follow-up task for contact %s rejected: %s",
                            row.contact_id, outcome.reason)  # fmt: skip
            else:
                log.warning("follow-up task for contact %s not created, sent again later: %s",
                            row.contact_id, outcome.reason)  # fmt: skip
        self.session.commit()
        if second:
            log.warning("archiving %d follow-up task(s) another push created and recorded "
                        "first: %s", len(second), ", ".join(second))  # fmt: skip
            self.adapter.archive_tasks(second)

    def _record_task(self, row: FollowUp, task_id: str) -> bool:
        """Record the CRM's id of the claim's task, unless another push has recorded one
        meanwhile (it took the claim over after the lease while this worker stalled): then
        the task just created is a second one (False), and is archived."""
        recorded = self.session.scalar(
            update(FollowUp)
            .where(FollowUp.id == row.id, FollowUp.crm_task_id.is_(None))
            .values(crm_task_id=task_id)
            .returning(FollowUp.id)
            .execution_options(synchronize_session=False)
        )
        if recorded is not None:
            return True
        # the same task (Salesforce's upsert on the key) is no second one
        return (
            self.session.scalar(select(FollowUp.crm_task_id).where(FollowUp.id == row.id))
            == task_id
        )

    def _bound_to_current_records(
        self, rows: list[FollowUp]
    ) -> list[tuple[FollowUp, FollowUpTask]]:
        """The claimed tasks, each on its contact's record as it is now. A payload names the
        record (and owner) of when the task was claimed, which a deleted or merged record or
        a rematch may have replaced since; a contact without a record now keeps its task
        pending until it is matched again."""
        if not rows:
            return []
        contacts = {c.id: c for c in self._load(Contact, [r.contact_id for r in rows])}
        bound: list[tuple[FollowUp, FollowUpTask]] = []
        for row in rows:
            task = task_from_payload(row.payload or {})
            contact = contacts.get(row.contact_id)
            if contact is None or not contact.crm_id:
                continue
            if task.record_id != contact.crm_id:
                task = replace(task, record_id=str(contact.crm_id),
                               owner_id=contact.crm_owner_id or task.owner_id)  # fmt: skip
                row.payload = task_payload(task)
            bound.append((row, task))
        return bound

    def _stale_records(self, contacts: Sequence[Contact], report: PushReport) -> None:
        """Match again the contacts whose stored record is gone or merged away; the outbox
        then pushes their whole scorecard to the record found. One batch read: run only for
        contacts with tasks still to send, which are rare (a crash, a refused call)."""
        known = {c.id: RecordKey(crm_id=c.crm_id) for c in contacts if c.crm_id}
        found = self.adapter.resolve_contacts(known.values())
        stale = {}
        for contact in contacts:
            if contact.id not in known:
                continue
            ref = found.get(known[contact.id])
            if ref is None or ref.crm_id != contact.crm_id:
                stale[contact.id] = contact
        if stale:
            self._match_again("contact", stale, report)
            write_outbox(self.session, list(stale), [], now=self.now, reason="rematched")
            self.session.commit()

    def _resend_pending(self, contact_ids: Sequence[int], report: PushReport) -> None:
        """Send again the claimed tasks of these contacts that never got the CRM's answer.

        Only a task whose lease has run out is taken over, by one push (a conditional update
        that renews the lease); it is looked up by its key first, so a task the CRM did create
        is recorded, not created again. A task under another worker's lease leaves its
        contact to be pushed again later. A task the CRM rejected is not sent again.
        """
        pending: list[FollowUp] = []
        for chunk in chunked(sorted(contact_ids), CHUNK):
            pending.extend(
                self.session.scalars(
                    select(FollowUp).where(
                        FollowUp.contact_id.in_(chunk),
                        FollowUp.crm_task_id.is_(None),
                        FollowUp.rejected_at.is_(None),
                        FollowUp.payload.is_not(None),
                    )
                )
            )
        if not pending:
            return
        now = utcnow()
        taken = set(
            self.session.scalars(
                update(FollowUp)
                .where(
                    FollowUp.id.in_([r.id for r in pending]),
                    FollowUp.crm_task_id.is_(None),
                    or_(FollowUp.lease_until.is_(None), FollowUp.lease_until <= now),
                )
                .values(lease_until=now + self.task_lease)
                .returning(FollowUp.id)
                .execution_options(synchronize_session=False)
            )
        )
        self.session.commit()
        report.retry_contacts |= {r.contact_id for r in pending if r.id not in taken}
        rows = [r for r in pending if r.id in taken]
        if rows:
            self._stale_records(self._load(Contact, [r.contact_id for r in rows]), report)
        self._send_tasks(rows, report, look_up=True)

    # -- the whole push --------------------------------------------------------------------

    def push(self, contact_ids: Iterable[int], account_ids: Iterable[int]) -> PushReport:
        # Stored ids are valid only in the CRM they came from: nothing is written (not even a
        # pending follow-up task) while the configured CRM is another portal / org.
        verify_connection(self.session, self.adapter, now=self.now)
        report = PushReport()
        contacts = self._load(Contact, contact_ids)
        known_before = {c.id for c in contacts if c.crm_id}
        linked = self._resolve_contacts(contacts, report)
        # Accounts are pushed once, by their own outbox rows, not with every chunk of their
        # contacts: one this push just linked to a contact gets an outbox row (the relay
        # coalesces them) and is reported for a requested sync to push after its contacts.
        account_set = set(account_ids)
        if linked and not self.dry_run:
            write_outbox(self.session, [], linked, now=self.now, reason="linked")
        report.linked_accounts |= linked
        accounts = self._load(Account, account_set)
        self._resolve_accounts(accounts)
        matched = [c for c in contacts if c.crm_id]
        report.unmatched += len(contacts) - len(matched)
        report.unmatched += sum(1 for a in accounts if not a.crm_id)

        # Every subject is scored, matched or not: the API and the pages show unmatched
        # people's scores too, and an import leaves its scoring to this push.
        contact_cards = recompute_contacts(self.session, [c.id for c in contacts], now=self.now,
                                           config=self.scoring)  # fmt: skip
        account_values = recompute_accounts(self.session, [a.id for a in accounts], now=self.now,
                                            config=self.scoring)  # fmt: skip
        self.session.commit()

        cards = self._cards("contact", contact_cards, [c.id for c in matched])
        planned = [
            p
            for c in matched
            if (p := self._plan("contact", str(c.crm_id), c.id, cards[c.id], report,
                                email=c.email, owner=c.crm_owner_id)) is not None
        ]  # fmt: skip
        if self.mapping.follow_up.enabled and self.mapping.follow_up.assign_to_owner:
            self._task_owners(matched, planned, known_before)
        account_cards = self._cards("account", account_values, [a.id for a in accounts if a.crm_id])
        planned_accounts = [
            p
            for a in accounts
            if a.crm_id
            and (p := self._plan("account", a.crm_id, a.id, account_cards[a.id], report))
            is not None
        ]
        if self.dry_run:
            self.session.rollback()
            return report
        try:
            gone = self._write("contact", planned, report)
            if gone:
                self._write_again("contact", gone, report)
            gone = self._write("account", planned_accounts, report)
            if gone:
                self._write_again("account", gone, report)
            if self.mapping.follow_up.enabled:
                self._resend_pending([c.id for c in matched], report)
        except RetriableCrmError:
            self.session.commit()  # keep what was written; the caller retries the rest
            raise
        return report

    def _load(self, model: Any, ids: Iterable[int]) -> list[Any]:
        rows: list[Any] = []
        for chunk in chunked(sorted(set(ids)), CHUNK):
            rows.extend(self.session.scalars(select(model).where(model.id.in_(chunk))))
        return rows

    def _cards(self, subject: str, values: dict[int, dict[str, Any]], ids: Sequence[int]
               ) -> dict[int, _Card]:  # fmt: skip
        """The scorecards just computed (``values``) with what was last written of them."""
        cards: dict[int, _Card] = {}
        columns = (Scorecard.id, Scorecard.subject_id, Scorecard.written, Scorecard.written_at)
        for row in rows_where_in(self.session, columns, Scorecard.subject_id, sorted(ids),
                                 Scorecard.subject_type == subject):  # fmt: skip
            cards[row.subject_id] = _Card(
                row.id, values[row.subject_id], self.now, row.written, row.written_at
            )
        return cards
