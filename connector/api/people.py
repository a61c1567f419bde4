"""DELETE /api/v1/people/{email}: erase a person (see connector/sync/erasure.py)."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from connector.api.errors import error_response, fail
from connector.api.schemas import ErrorOut
from connector.auth import protect
from connector.crm.errors import CrmError, RetriableCrmError
from connector.extensions import db_session
from connector.scoring import ScoringConfig
from connector.storage import utcnow
from connector.sync.erasure import erase_person, erased_log_line
from connector.sync.identity import ConnectionChanged
from connector.sync.runs import crm_connection

log = logging.getLogger(__name__)
people_blp = Blueprint("people", __name__, url_prefix="/api/v1", description="Erasure")
protect(people_blp, "admin")
_AUTH_DOC: dict[str, Any] = {"security": [{"bearerAuth": []}]}


class ErasureRejectionOut(Schema):
    subject = fields.String()
    crm_id = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)


class ErasureOut(Schema):
    responses = fields.Integer(metadata={"description": "Survey responses deleted"})
    ratings_of_person = fields.Integer(metadata={"description": "Employee ratings of them"})
    ratings_by_person = fields.Integer(
        metadata={"description": "Ratings they wrote as an employee"}
    )
    crm_outcome = fields.String(metadata={"description": "cleared, rejected or not_in_crm"})
    crm_cleared_fields = fields.Integer()
    contacts_updated = fields.Integer(metadata={"description": "Others' records rewritten"})
    accounts_updated = fields.Integer(metadata={"description": "Account roll-ups rewritten"})
    rejections = fields.List(fields.Nested(ErasureRejectionOut))


def _crm() -> tuple[Any, Any]:
    """The configured CRM, or (None, None) when none is configured (nothing to clear)."""
    if not current_app.config.get("CX360_CRM"):
        return None, None
    return crm_connection(current_app.config)


@people_blp.delete("/people/<string:email>")
@people_blp.doc(**_AUTH_DOC)
@people_blp.response(200, ErasureOut)
@people_blp.alt_response(404, schema=ErrorOut, description="Nothing is stored for this email")
@people_blp.alt_response(
    409, schema=ErrorOut,
    description="The configured CRM is another portal / org than the stored ids'; nothing erased "
    "until `cx360 sync --rematch` has run",
)  # fmt: skip
@people_blp.alt_response(502, schema=ErrorOut, description="The CRM refused; nothing erased")
@people_blp.alt_response(503, schema=ErrorOut, description="CRM or storage down; retry")
def erase(email: str) -> Any:
    """Erase a person (GDPR Art. 17)

    Deletes the person's survey responses, the employee ratings of them and those they wrote
    as an employee, and their contact row; clears every cx360 field on their CRM record; and
    rewrites the account roll-ups (and other records) their data was part of, at once. Nothing
    of the person stays in cx360. Repeating the call answers 404: nothing is stored any more.
    While the configured CRM is another HubSpot portal / Salesforce org than the one the stored
    ids came from, it answers 409 and erases nothing: clearing fields by those ids would clear
    another person's record. Run `cx360 sync --rematch`, then erase.
    """
    session = db_session()
    try:
        adapter, mapping = _crm()
        report = erase_person(session, adapter, mapping, email, now=utcnow(),
                              scoring=ScoringConfig.from_config(current_app.config))  # fmt: skip
    except ConnectionChanged as exc:
        session.rollback()
        fail(409, f"Nothing was erased: {exc}")
    except RetriableCrmError as exc:
        session.rollback()
        return error_response(503, f"The CRM is unavailable; nothing was erased. ({exc})",
                              headers={"Retry-After": str(int(exc.retry_after or 30))})  # fmt: skip
    except CrmError as exc:
        session.rollback()
        fail(502, f"The CRM refused the erasure; nothing was erased. ({exc})")
    if report is None:
        session.rollback()
        fail(404, "No data is stored for this email (never stored, or erased already).")
    session.commit()
    log.info(erased_log_line(report))
    return report.as_dict()
