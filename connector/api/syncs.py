"""Sync runs and unmatched contacts: POST/GET /api/v1/syncs, GET /api/v1/unmatched."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import func, select

from connector.api.errors import fail
from connector.auth import protect
from connector.crm.errors import CrmError
from connector.extensions import db_session
from connector.storage import Account, Contact, Response, SyncRun, utcnow
from connector.storage.models import SYNC_RUN_STATUSES
from connector.sync.runs import close_lost_runs, run_lease, run_requested_sync, run_summary

syncs_blp = Blueprint("syncs", __name__, url_prefix="/api/v1", description="Sync runs")
protect(syncs_blp, "admin")
_AUTH_DOC: dict[str, Any] = {"security": [{"bearerAuth": []}]}


class SyncIn(Schema):
    dry_run = fields.Boolean(load_default=False, metadata={"description": "Plan only"})
    full = fields.Boolean(
        load_default=False, metadata={"description": "Rewrite every mapped field (repairs drift)"}
    )
    rematch = fields.Boolean(
        load_default=False,
        metadata={"description": "After a change of HubSpot portal or Salesforce org: forget "
                                 "the stored CRM ids and what was written, match everyone again "
                                 "by email / domain and write everything (not with dry_run)"},
    )  # fmt: skip

    @validates_schema
    def _rematch_writes(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("rematch") and data.get("dry_run"):
            raise ValidationError("rematch writes; it cannot be a dry run", "rematch")


class RejectionOut(Schema):
    subject = fields.String(metadata={
        "description": "contact or account (a record refused), or follow_up_task (a task "
                       "refused; id is the contact's, crm_id its CRM record; not sent again)"
    })  # fmt: skip
    id = fields.Integer()
    crm_id = fields.String(allow_none=True)
    code = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)


class SyncRunOut(Schema):
    id = fields.Integer()
    trigger = fields.String(metadata={"description": "outbox (automatic), api or cli"})
    crm = fields.String()
    status = fields.String(metadata={"description": "|".join(SYNC_RUN_STATUSES)})
    dry_run = fields.Boolean()
    full = fields.Boolean()
    rematch = fields.Boolean()
    created_at = fields.AwareDateTime()
    started_at = fields.AwareDateTime(allow_none=True)
    finished_at = fields.AwareDateTime(allow_none=True)
    duration_seconds = fields.Float(allow_none=True)
    written = fields.Integer()
    unchanged = fields.Integer()
    rejected = fields.Integer()
    unmatched = fields.Integer()
    tasks_created = fields.Integer()
    api_calls = fields.Integer()
    rejections = fields.List(fields.Nested(RejectionOut))
    plan = fields.List(fields.Dict(), allow_none=True,
                       metadata={"description": "Dry run: field changes per record"})  # fmt: skip
    error = fields.String(allow_none=True)


class SyncListQuery(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    status = fields.String(
        validate=validate.OneOf(SYNC_RUN_STATUSES),
        metadata={"description": "Only runs in this status"},
    )


class UnmatchedOut(Schema):
    subject = fields.String()
    key = fields.String(metadata={"description": "email or domain cx360 looked for"})
    unmatched_since = fields.AwareDateTime(allow_none=True)
    last_checked = fields.AwareDateTime(allow_none=True)
    responses = fields.Integer()


def _close_lost_runs() -> None:
    """Before answering: close the runs whose worker was lost, also while beat is down."""
    session = db_session()
    if close_lost_runs(session, now=utcnow(), lease=run_lease(current_app.config)):
        session.commit()
    else:
        session.rollback()  # ends the read that found none


@syncs_blp.route("/syncs")
class Syncs(MethodView):
    @syncs_blp.doc(**_AUTH_DOC)
    @syncs_blp.arguments(SyncListQuery, location="query")
    @syncs_blp.response(200, SyncRunOut(many=True))
    def get(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Recent sync runs, newest first

        A run whose worker was lost (killed mid-run) is shown, and stored, as `failed` with
        the error `worker lost: no heartbeat since …` once its lease
        (`CX360_SYNC_RUN_LEASE_SECONDS`) has run out.
        """
        _close_lost_runs()
        wanted = select(SyncRun).order_by(SyncRun.id.desc()).limit(query["limit"])
        if "status" in query:
            wanted = wanted.where(SyncRun.status == query["status"])
        runs = db_session().scalars(wanted)
        return [run_summary(r) for r in runs]

    @syncs_blp.doc(**_AUTH_DOC)
    @syncs_blp.arguments(SyncIn)
    @syncs_blp.response(202, SyncRunOut)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Push now

        Pushes the pending changes (or, with `full`, every mapped field of every known
        contact and account; with `rematch`, after the CRM connection changed, every
        contact and account matched again by email / domain first). A `dry_run` answers with
        the plan of field changes per record and writes nothing; otherwise the run is queued
        for a worker and can be followed at `GET /api/v1/syncs/{id}`.
        """
        session = db_session()
        run = SyncRun(trigger="api", status="queued", dry_run=body["dry_run"], full=body["full"],
                      rematch=body["rematch"])  # fmt: skip
        session.add(run)
        session.commit()
        if body["dry_run"]:
            try:
                return run_requested_sync(run.id)
            except CrmError as exc:
                fail(502, f"The CRM did not answer the plan's lookups: {exc}")
        try:
            current_app.extensions["celery"].send_task("cx360.run_sync", args=[run.id],
                                                       retry=False)  # fmt: skip
        except Exception as exc:
            session.delete(run)
            session.commit()
            fail(503, f"The task queue is unavailable ({type(exc).__name__}); retry later.")
        return run_summary(run)


@syncs_blp.get("/syncs/<int:run_id>")
@syncs_blp.doc(**_AUTH_DOC)
@syncs_blp.response(200, SyncRunOut)
def sync_run(run_id: int) -> dict[str, Any]:
    """One sync run with its counts and rejected records"""
    _close_lost_runs()
    # ids are 32-bit integers: a larger one names no run (and would overflow the driver)
    run = db_session().get(SyncRun, run_id) if run_id <= 2**31 - 1 else None
    if run is None:
        fail(404, f"No sync run {run_id}.")
    return run_summary(run)


unmatched_blp = Blueprint("unmatched", __name__, url_prefix="/api/v1", description="Unmatched")
protect(unmatched_blp, "read")


@unmatched_blp.get("/unmatched")
@unmatched_blp.doc(**_AUTH_DOC)
@unmatched_blp.response(200, UnmatchedOut(many=True))
def unmatched() -> list[dict[str, Any]]:
    """Contacts and accounts the CRM does not know (yet)

    They keep their responses and are looked up again on every sync; create them in the CRM
    (or fix the email/domain there) and the next sync writes their scores.
    """
    session = db_session()
    counts = dict(
        session.execute(
            select(Response.contact_id, func.count()).group_by(Response.contact_id)
        ).all()
    )
    contacts = session.scalars(
        select(Contact).where(Contact.unmatched_since.is_not(None)).order_by(Contact.email)
    )
    rows = [
        {"subject": "contact", "key": c.email or c.crm_id or "", "unmatched_since":
         c.unmatched_since, "last_checked": c.unmatched_checked_at,
         "responses": int(counts.get(c.id, 0))}
        for c in contacts
    ]  # fmt: skip
    accounts = session.scalars(
        select(Account).where(Account.unmatched_since.is_not(None)).order_by(Account.domain)
    )
    rows += [
        {"subject": "account", "key": a.domain or "", "unmatched_since": a.unmatched_since,
         "last_checked": None, "responses": 0}
        for a in accounts
    ]  # fmt: skip
    return rows
