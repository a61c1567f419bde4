"""POST /webhooks/typeform, /webhooks/delighted, /webhooks/generic.

Each view verifies the sender's signature over the raw body, maps the payload to the REST
input shape, validates it with the API's schemas, and stores it: the delivery id, the items
and their outbox rows commit together before the 2xx, so an acknowledged delivery is never
lost and a repeated one (same delivery id, hours or days later) changes nothing. Pushing to
the CRM happens later, in the pipeline.

Replies are chosen for the sender's retry logic: 401 bad/missing signature or stale
timestamp, 400 malformed or unusable payload (with the reason; retrying cannot help), 413
a body over CX360_MAX_BODY_BYTES however sent (``connector.api.bodies`` reads every body whole
before any view, so a signature is only ever checked over all of it), 503
with Retry-After when storage is down (retrying will), 200 otherwise. Every error has the
project's JSON error shape.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from marshmallow import ValidationError
from sqlalchemy import select

from connector.api.errors import error_response
from connector.api.schemas import RatingIn, ResponseIn, load_each
from connector.extensions import db_session
from connector.ingest import IngestResult, commit_with_retry, store_ratings, store_responses
from connector.storage import WebhookDelivery, utcnow
from connector.sync.kick import kick_relay
from connector.webhooks.providers import (
    PayloadError,
    TypeformOptions,
    WebhookBatch,
    delighted_batch,
    generic_batch,
    parse_json_body,
    typeform_batch,
)
from connector.webhooks.signatures import (
    DELIGHTED_HEADER,
    TYPEFORM_HEADER,
    SignatureError,
    parse_secrets,
    verify_delighted,
    verify_standard_webhook,
    verify_typeform,
)

log = logging.getLogger(__name__)
webhooks_blp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
_DELIVERY_ID_MAX = 255
_RESPONSE_IN = ResponseIn()  # built once: building a schema costs more than a load
_RATING_IN = RatingIn()


@webhooks_blp.errorhandler(SignatureError)
def _unauthorized(exc: SignatureError) -> Response:
    log.info("webhook %s rejected: %s", request.path, exc.reason)
    return error_response(401, exc.reason)


@webhooks_blp.errorhandler(PayloadError)
def _unusable_payload(exc: PayloadError) -> Response:
    errors = {"json": {exc.field: [exc.reason]}} if exc.field else None
    return error_response(400, f"Unusable payload: {exc}", errors)


@webhooks_blp.errorhandler(ValidationError)
def _invalid_items(exc: ValidationError) -> Response:
    return error_response(400, "The payload's values are invalid.", {"json": exc.messages})


def _secrets(name: str) -> list[str]:
    return parse_secrets(current_app.config.get(name))


@webhooks_blp.post("/typeform")
def typeform() -> Response:
    """Typeform ``form_response`` webhooks (``Typeform-Signature``)."""
    body = request.get_data(cache=True)
    verify_typeform(body, request.headers.get(TYPEFORM_HEADER), _secrets("CX360_TYPEFORM_SECRETS"))
    options = TypeformOptions.from_config(current_app.config)
    return _accept("typeform", typeform_batch(parse_json_body(body), options))


@webhooks_blp.post("/delighted")
def delighted() -> Response:
    """Delighted ``survey_response.*`` webhooks (``X-Delighted-Webhook-Signature``)."""
    body = request.get_data(cache=True)
    verify_delighted(
        body, request.headers.get(DELIGHTED_HEADER), _secrets("CX360_DELIGHTED_SECRETS")
    )
    return _accept("delighted", delighted_batch(parse_json_body(body)))


@webhooks_blp.post("/generic")
def generic() -> Response:
    """Responses or employee ratings in our own input shape, signed as Standard Webhooks."""
    body = request.get_data(cache=True)
    message = verify_standard_webhook(
        body, dict(request.headers.items()), _secrets("CX360_WEBHOOK_SECRETS"), now=utcnow()
    )
    return _accept("generic", generic_batch(parse_json_body(body), message.id))


def _delivery_key(delivery_id: str) -> str:
    # Ids are short in practice; a longer one still dedupes, by its digest.
    if len(delivery_id) <= _DELIVERY_ID_MAX:
        return delivery_id
    return "sha256:" + hashlib.sha256(delivery_id.encode()).hexdigest()


def _accept(provider: str, batch: WebhookBatch) -> Response:
    if batch.ignored:
        return jsonify({"status": "ignored", "reason": batch.ignored})
    responses = load_each(_RESPONSE_IN, batch.responses)
    ratings = load_each(_RATING_IN, batch.ratings)
    outcome = store_delivery(provider, batch.delivery_id, responses, ratings)
    return jsonify(outcome)


def store_delivery(
    provider: str,
    delivery_id: str | None,
    responses: Sequence[Mapping[str, Any]],
    ratings: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Record the delivery id and store its items in one transaction; a seen id is a no-op.

    Two copies of one delivery arriving at once make one of them hit the unique delivery id
    (or item key); it is retried once and then sees the other's commit.
    """
    session = db_session()
    key = _delivery_key(delivery_id) if delivery_id else None

    def record_and_store(now: datetime) -> IngestResult | None:
        if key is not None:
            seen = session.scalar(
                select(WebhookDelivery.id).where(
                    WebhookDelivery.provider == provider, WebhookDelivery.delivery_id == key
                )
            )
            if seen is not None:
                return None
            session.add(WebhookDelivery(provider=provider, delivery_id=key, received_at=now))
            session.flush()
        stored = IngestResult()
        for items, store in ((responses, store_responses), (ratings, store_ratings)):
            if items:
                stored.merge(store(session, items, now=now))
        return stored

    stored = commit_with_retry(session, record_and_store)
    kick_relay()
    if stored is None:
        return {"status": "duplicate", "delivery_id": delivery_id}
    return {
        "status": "stored",
        "delivery_id": delivery_id,
        "created": stored.created,
        "updated": stored.updated,
        "unchanged": stored.unchanged,
    }
