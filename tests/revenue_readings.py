"""Revenue readings as an adapter returns them (``connector.revenue.RevenueReading``) and the
hand-computed revenue example the API and page tests check (issue #22)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from connector.extensions import database
from connector.revenue import store_revenue
from connector.storage import Account, utcnow
from tests.conftest import score_outbox


@dataclass(frozen=True)
class Reading:
    amount: Decimal | None
    currency: str | None
    deals: int
    note: str | None = None


# domain -> NPS answers of its contacts, revenue reading. By hand, EUR: revenue 100,000;
# at risk 60,000 (acme); without signal 10,000 (initech); weighted NPS
# (60,000 * -100/3 + 30,000 * 100) / 90,000 = 11.1; coverage 90,000 / 100,000 = 90.0 %.
EXAMPLE: dict[str, tuple[list[int], Reading]] = {
    "acme.example": ([0, 0, 9], Reading(Decimal("60000"), "EUR", 3)),  # NPS -33.3: at risk
    "globex.example": ([10, 9], Reading(Decimal("30000"), "EUR", 1)),  # NPS 100: safe
    "initech.example": ([], Reading(Decimal("10000"), "EUR", 2)),  # no answer: no signal
    "umbrella.example": ([9], Reading(Decimal("5000.25"), "USD", 1)),  # another currency
    "hooli.example": ([0], Reading(None, None, 0)),  # no revenue: never counts
    "mixed.example": ([], Reading(None, None, 4, "deals in EUR and USD")),  # unknown amount
}


def load_revenue_example(app: Flask, client: FlaskClient, ingest_headers: dict[str, str]) -> None:
    """Post EXAMPLE's answers through the REST API, store its revenue and score it all."""
    answered = (utcnow() - timedelta(days=5)).isoformat()
    items = [
        {"kind": "nps", "score": score, "email": f"p{i}@{domain}", "answered_at": answered,
         "account_domain": domain}
        for domain, (scores, _) in EXAMPLE.items()
        for i, score in enumerate(scores)
    ]  # fmt: skip
    reply = client.post("/api/v1/responses", json={"responses": items}, headers=ingest_headers)
    assert reply.status_code == 200, reply.json
    # Staff ratings of the accounts with answers, so that they show on the account scatter.
    ratings = [
        {"employee": "emma@us.example", "account_domain": domain, "relationship": 8,
         "potential": 7, "rated_at": answered}
        for domain in ("acme.example", "globex.example", "umbrella.example")
    ]  # fmt: skip
    reply = client.post("/api/v1/ratings", json={"ratings": ratings}, headers=ingest_headers)
    assert reply.status_code == 200, reply.json
    with database(app).session() as session:
        known = {a.domain: a.id for a in session.scalars(select(Account))}
        for domain in EXAMPLE:
            if domain not in known:
                account = Account(domain=domain, name=domain.split(".")[0].title())
                session.add(account)
                session.flush()
                known[domain] = account.id
        store_revenue(session, {known[d]: EXAMPLE[d][1] for d in EXAMPLE}, now=utcnow())
    score_outbox(app)
