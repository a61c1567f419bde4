"""The employee rating form: finding a customer and storing a rating like the API does.

cx360 keeps no names of people (contacts arrive with an email or CRM id), so the search
matches every word typed against the contact's email and CRM id and the account's name and
domain: "ben hartmann" finds ben.hartmann@acme-maschinenbau.de, "acme" finds its contacts.
A submitted form is loaded through the API's ``RatingIn`` schema and stored by the same
``ingest`` function as ``POST /api/v1/ratings``, so validation and the push to the CRM are
the same; the form also scores the person at once, so the next page shows the rating counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext
from marshmallow import ValidationError
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from connector.api.ingest import ingest
from connector.api.schemas import RatingIn
from connector.ingest import store_ratings
from connector.scorecards import stored_scorecard
from connector.storage import Account, Contact

SEARCH_LIMIT = 20
MAX_WORDS = 5
SOURCE = "web"

# What the form says about a field that does not validate, in the page's language (the API's
# schema decides what is valid; its English messages are for API clients).
FIELD_MESSAGES = {
    "relationship": lazy_gettext("Pick a value from 0 to 10."),
    "potential": lazy_gettext("Pick a value from 0 to 10."),
    "employee": lazy_gettext("Your account has no usable email address to rate with."),
    "comment": lazy_gettext("The comment is too long (at most 10,000 characters)."),
    "customer": lazy_gettext("This customer cannot be rated: they have no email or CRM id."),
}


@dataclass(frozen=True)
class Customer:
    id: int
    email: str | None
    crm_id: str | None
    account: str | None

    @property
    def label(self) -> str:
        return self.email or self.crm_id or f"#{self.id}"


def _customer(contact: Contact, account: Account | None) -> Customer:
    company = (account.name or account.domain) if account else None
    return Customer(contact.id, contact.email, contact.crm_id, company)


def search_customers(session: Session, text: str, limit: int = SEARCH_LIMIT) -> list[Customer]:
    """Contacts matching every word of ``text`` in email, CRM id, account name or domain."""
    words = [w.lower() for w in text.replace(",", " ").split()][:MAX_WORDS]
    if not words:
        return []
    conditions = [
        or_(
            *(
                func.lower(column).contains(word, autoescape=True)
                for column in (Contact.email, Contact.crm_id, Account.name, Account.domain)
            )
        )
        for word in words
    ]
    query = (
        select(Contact, Account)
        .outerjoin(Account, Account.id == Contact.account_id)
        .where(and_(*conditions))
        .order_by(Contact.email, Contact.id)
        .limit(limit)
    )
    return [_customer(contact, account) for contact, account in session.execute(query)]


def customer(session: Session, contact_id: int) -> Customer | None:
    contact = session.get(Contact, contact_id)
    if contact is None:
        return None
    account = session.get(Account, contact.account_id) if contact.account_id else None
    return _customer(contact, account)


def scorecard_values(session: Session, contact_id: int) -> dict[str, Any]:
    card = stored_scorecard(session, "contact", contact_id)
    return dict(card.values) if card else {}


def _score(raw: str | None) -> Any:
    """A 0-10 field as an int when it is one; anything else goes to the schema as given."""
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() else (raw or None)


def load_rating(form: Any, target: Customer, rater: str) -> dict[str, Any]:
    """The form's values, rated by the signed-in ``rater``, as a validated ``RatingIn`` item;
    raises ``ValidationError``."""
    item: dict[str, Any] = {
        "employee": rater,
        "relationship": _score(form.get("relationship")),
        "potential": _score(form.get("potential")),
        "comment": form.get("comment") or None,
        "source": SOURCE,
    }
    if target.crm_id:
        item["crm_id"] = target.crm_id
    if target.email:
        item["email"] = target.email
    if item["relationship"] is None:
        item.pop("relationship")
    if item["potential"] is None:
        item.pop("potential")
    loaded: dict[str, Any] = RatingIn().load(item)
    return loaded


def save_rating(form: Any, target: Customer, rater: str) -> dict[str, Any]:
    """Validate and store one rating through the API's ingest path (commits, kicks the relay)."""
    return ingest([load_rating(form, target, rater)], store_ratings, "rating", score_now=True)


def field_errors(error: ValidationError) -> dict[str, str]:
    """One message per form field that failed, in the page's language."""
    messages = error.messages if isinstance(error.messages, dict) else {"_": error.messages}
    flat: dict[str, str] = {}
    for name in messages:
        # The customer's keys come from the picked contact, not from a field of the form.
        key = "customer" if name in ("email", "crm_id", "_schema") else str(name)
        flat[key] = str(FIELD_MESSAGES.get(key, FIELD_MESSAGES["customer"]))
    return flat
