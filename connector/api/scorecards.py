"""GET /api/v1/contacts/{key}/scorecard and /api/v1/accounts/{key}/scorecard."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from connector.api.errors import fail
from connector.api.schemas import ErrorOut, ScorecardOut
from connector.auth import protect
from connector.extensions import db_session
from connector.ingest import find_account, find_contact
from connector.revenue import known_amount, revenue_reading
from connector.scorecards import stored_scorecard
from connector.scoring import ACCOUNT_METRICS, CONTACT_METRICS

scorecards_blp = Blueprint(
    "scorecards", __name__, url_prefix="/api/v1", description="Scorecards of contacts and accounts"
)
protect(scorecards_blp, "read")
_AUTH_DOC: dict[str, Any] = {"security": [{"bearerAuth": []}]}


def _reply(subject: str, key: str, subject_id: int, identity: dict[str, Any]) -> dict[str, Any]:
    """The stored scorecard of a found contact or account, every metric key present."""
    card = stored_scorecard(db_session(), subject, subject_id)
    values = card.values if card else {}
    keys = CONTACT_METRICS if subject == "contact" else ACCOUNT_METRICS
    return {
        "subject": subject,
        "key": key,
        **identity,
        "computed_at": card.computed_at if card else None,
        "metrics": {metric: values.get(metric) for metric in keys},
    }


@scorecards_blp.get("/contacts/<string:key>/scorecard")
@scorecards_blp.doc(**_AUTH_DOC)
@scorecards_blp.response(200, ScorecardOut)
@scorecards_blp.alt_response(404, schema=ErrorOut, description="No such contact")
def contact_scorecard(key: str) -> dict[str, Any]:
    """A contact's scorecard (key: email or CRM id)"""
    contact = find_contact(db_session(), key)
    if contact is None:
        fail(404, f"No contact with email or CRM id {key!r}.")
    return _reply("contact", key, contact.id, {"email": contact.email, "crm_id": contact.crm_id})


@scorecards_blp.get("/accounts/<string:key>/scorecard")
@scorecards_blp.doc(**_AUTH_DOC)
@scorecards_blp.response(200, ScorecardOut)
@scorecards_blp.alt_response(404, schema=ErrorOut, description="No such account")
def account_scorecard(key: str) -> dict[str, Any]:
    """An account's scorecard (key: domain or CRM id)

    `revenue` is the revenue reading behind the `revenue.*` metrics (deals counted, why an
    amount is unknown, when it was read); null before the first revenue refresh.
    """
    account = find_account(db_session(), key)
    if account is None:
        fail(404, f"No account with domain or CRM id {key!r}.")
    reading = revenue_reading(db_session(), account.id)
    revenue = reading and {
        "amount": known_amount(reading.amount, reading.deals),
        "currency": reading.currency,
        "deals": reading.deals,
        "note": reading.note,
        "read_at": reading.read_at,
    }
    identity = {"domain": account.domain, "crm_id": account.crm_id, "revenue": revenue}
    return _reply("account", key, account.id, identity)
