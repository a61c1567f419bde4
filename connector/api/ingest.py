"""POST /api/v1/responses and /api/v1/ratings: validate, store, answer.

The request is atomic: the schema validates every item before anything is stored, and the
data and its outbox rows commit together (or not at all). Scoring and pushing happen in the
worker (DESIGN's data flow), so the request does only what acknowledging needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from connector.api.bodies import require_json_body
from connector.api.schemas import ErrorOut, IngestResultOut, RatingBatchIn, ResponseBatchIn
from connector.auth import protect
from connector.extensions import database, db_session
from connector.ingest import (
    IngestResult,
    commit_with_retry,
    store_committed,
    store_ratings,
    store_responses,
    stores_by_statement,
)
from connector.metrics import ITEMS_INGESTED
from connector.scorecards import recompute_scorecards
from connector.scoring import ScoringConfig
from connector.sync.kick import kick_relay

responses_blp = Blueprint(
    "responses", __name__, url_prefix="/api/v1/responses", description="Survey responses"
)
ratings_blp = Blueprint(
    "ratings", __name__, url_prefix="/api/v1/ratings", description="Employee ratings"
)

protect(responses_blp, "ingest")
protect(ratings_blp, "ingest")
responses_blp.before_request(require_json_body)
ratings_blp.before_request(require_json_body)


def ingest(
    items: Sequence[Mapping[str, Any]],
    store: Callable[..., IngestResult],
    item: str,
    *,
    score_now: bool = False,
) -> dict[str, Any]:
    """Store items with their outbox rows in one transaction, then ask for a relay.

    ``score_now`` also recomputes the touched scorecards in that transaction, for the rating
    form, whose next page shows the person's new figures; the API leaves scoring to the
    worker. A unique-key race with a concurrent request is retried once
    (``commit_with_retry``). One item on PostgreSQL is one statement that commits itself
    (``store_committed``).
    """
    if not score_now and stores_by_statement(database(), items):
        result = store_committed(database(), item, items[0])
    else:
        session = db_session()
        config = ScoringConfig.from_config(current_app.config)

        def store_items(now: datetime) -> IngestResult:
            result = store(session, items, now=now)
            if score_now:
                recompute_scorecards(session, result.contact_ids, result.account_ids,
                                     now=now, config=config)  # fmt: skip
            return result

        result = commit_with_retry(session, store_items)
    kick_relay()
    for outcome in ("created", "updated", "unchanged"):
        ITEMS_INGESTED.labels(item, outcome).inc(getattr(result, outcome))
    return result.as_dict()


_AUTH_DOC: dict[str, Any] = {"security": [{"bearerAuth": []}]}
# Schema instances, not classes: given a class, webargs builds a new schema (and its nested
# item schema, copying every field) on every request, which cost more than validating.
RESPONSE_BATCH_IN = ResponseBatchIn()
RATING_BATCH_IN = RatingBatchIn()


@responses_blp.route("")
class Responses(MethodView):
    @responses_blp.doc(**_AUTH_DOC)
    @responses_blp.arguments(RESPONSE_BATCH_IN, description="One response, or {responses: [...]}")
    @responses_blp.response(200, IngestResultOut)
    @responses_blp.alt_response(401, schema=ErrorOut, description="No or invalid API key")
    @responses_blp.alt_response(403, schema=ErrorOut, description="Key lacks scope ingest")
    @responses_blp.alt_response(413, schema=ErrorOut, description="Body over the size limit")
    @responses_blp.alt_response(415, schema=ErrorOut, description="Body not sent as JSON")
    @responses_blp.alt_response(503, schema=ErrorOut, description="Storage unavailable; retry")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Store survey responses (NPS or CSAT)

        A single response object or `{"responses": [...]}` (up to 1,000), sent with
        `Content-Type: application/json`. The batch is atomic: one invalid item fails the
        request with 422 naming every bad field of every bad item (a single object's fields
        without a batch index), and nothing is stored. A resend with the same `source` and
        `external_id` updates the stored response instead of adding one.
        """
        return ingest(body["responses"], store_responses, "response")


@ratings_blp.route("")
class Ratings(MethodView):
    @ratings_blp.doc(**_AUTH_DOC)
    @ratings_blp.arguments(RATING_BATCH_IN, description="One rating, or {ratings: [...]}")
    @ratings_blp.response(200, IngestResultOut)
    @ratings_blp.alt_response(401, schema=ErrorOut, description="No or invalid API key")
    @ratings_blp.alt_response(403, schema=ErrorOut, description="Key lacks scope ingest")
    @ratings_blp.alt_response(413, schema=ErrorOut, description="Body over the size limit")
    @ratings_blp.alt_response(415, schema=ErrorOut, description="Body not sent as JSON")
    @ratings_blp.alt_response(503, schema=ErrorOut, description="Storage unavailable; retry")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Store employee ratings of customers (reverse NPS)

        `relationship` (0-10): how gladly would you recommend working with this customer to a
        colleague? `potential` (0-10): how much potential does this customer have? Only each
        employee's latest rating of a customer counts.
        """
        return ingest(body["ratings"], store_ratings, "rating")
