"""Survey-tool payloads translated into the REST API's input shape.

Each function takes the parsed JSON body and returns a :class:`WebhookBatch`: the delivery id
to deduplicate on and the response/rating dicts as ``POST /api/v1/responses`` and
``POST /api/v1/ratings`` accept them (the caller validates them with ``ResponseIn`` /
``RatingIn``). A payload that cannot give a usable score raises :class:`PayloadError`, whose
reason goes back to the sender with a 400 so it stops retrying. Events that carry no survey
answer (Delighted unsubscribes, Typeform partial responses) come back with ``ignored`` set:
they are acknowledged and dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TYPEFORM_SOURCE = "typeform"
DELIGHTED_SOURCE = "delighted"
GENERIC_SOURCE = "webhook"
# Typeform field types whose answers are a 0..10 / 1..n scale a respondent picks.
_TYPEFORM_SCALE_TYPES = ("nps", "opinion_scale")
_DELIGHTED_KINDS = ("nps", "csat")
# Keys that only a rating has; a generic payload with one of them is a rating.
_RATING_KEYS = ("employee", "relationship", "potential", "rated_at")


class PayloadError(ValueError):
    """The body cannot be turned into responses; ``reason`` tells the sender why."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.reason = reason
        self.field = field


@dataclass(frozen=True)
class WebhookBatch:
    """What one delivery asks cx360 to store."""

    delivery_id: str | None
    responses: list[dict[str, Any]] = field(default_factory=list)
    ratings: list[dict[str, Any]] = field(default_factory=list)
    ignored: str | None = None


@dataclass(frozen=True)
class TypeformOptions:
    """Which Typeform questions carry the score, the comment and the email.

    ``score_ref`` empty: the form's only NPS or opinion-scale question is the score.
    """

    score_ref: str = ""
    comment_ref: str = ""
    email_hidden_field: str = ""
    kind: str = "nps"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TypeformOptions:
        return cls(
            score_ref=str(config.get("CX360_TYPEFORM_SCORE_REF") or "").strip(),
            comment_ref=str(config.get("CX360_TYPEFORM_COMMENT_REF") or "").strip(),
            email_hidden_field=str(config.get("CX360_TYPEFORM_EMAIL_HIDDEN_FIELD") or "").strip(),
            kind=str(config.get("CX360_TYPEFORM_KIND") or "nps").strip().lower(),
        )


def parse_json_body(body: bytes) -> Any:
    """The JSON value of a request body, or :class:`PayloadError` naming what is wrong."""
    if not body.strip():
        raise PayloadError("The request body is empty; expected JSON.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError("The request body is not UTF-8 encoded JSON.") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"Malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}."
        ) from exc


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PayloadError("Expected a JSON object.", where)
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


# --- Typeform -------------------------------------------------------------------------------


def _typeform_field_ids(form_response: Mapping[str, Any], ref: str) -> set[str]:
    """Field ids for ``ref``: answers name their field by id, the definition maps ref -> id."""
    definition = form_response.get("definition")
    fields = definition.get("fields") if isinstance(definition, Mapping) else None
    ids = {ref}  # a ref may be given as the field id itself
    for item in fields if isinstance(fields, list) else []:
        if isinstance(item, Mapping) and item.get("ref") == ref and item.get("id"):
            ids.add(str(item["id"]))
    return ids


def _typeform_answer(answers: list[Any], form_response: Mapping[str, Any], ref: str) -> Any:
    ids = _typeform_field_ids(form_response, ref)
    for answer in answers:
        if not isinstance(answer, Mapping):
            continue
        answer_field = answer.get("field")
        if not isinstance(answer_field, Mapping):
            continue
        if answer_field.get("ref") == ref or str(answer_field.get("id")) in ids:
            return answer
    return None


def _typeform_score_answer(
    answers: list[Any], form_response: Mapping[str, Any], options: TypeformOptions
) -> Mapping[str, Any]:
    if options.score_ref:
        answer = _typeform_answer(answers, form_response, options.score_ref)
        if answer is None:
            raise PayloadError(
                f"No answer to the score question (field ref {options.score_ref!r}); "
                "the respondent skipped it or the form has no such field.",
                "form_response.answers",
            )
        return answer
    scales = [
        answer
        for answer in answers
        if isinstance(answer, Mapping)
        and isinstance(answer.get("field"), Mapping)
        and answer["field"].get("type") in _TYPEFORM_SCALE_TYPES
    ]
    if len(scales) != 1:
        raise PayloadError(
            f"Found {len(scales)} NPS/opinion-scale answers; set CX360_TYPEFORM_SCORE_REF "
            "to the ref of the score question.",
            "form_response.answers",
        )
    return scales[0]


def typeform_batch(payload: Any, options: TypeformOptions) -> WebhookBatch:
    """A Typeform ``form_response`` webhook as one response."""
    body = _object(payload, "body")
    event_id = _text(body.get("event_id"))
    event_type = body.get("event_type")
    if event_type != "form_response":
        return WebhookBatch(event_id, ignored=f"event_type {event_type!r} carries no response")
    form_response = _object(body.get("form_response"), "form_response")
    answers = form_response.get("answers")
    if not isinstance(answers, list):
        raise PayloadError("Expected a list of answers.", "form_response.answers")

    score_answer = _typeform_score_answer(answers, form_response, options)
    score = score_answer.get("number")
    if isinstance(score, bool) or not isinstance(score, int | float) or score != int(score):
        raise PayloadError(
            f"The score answer is not a whole number (got {score!r}).", "form_response.answers"
        )

    email = None
    for answer in answers:
        if isinstance(answer, Mapping) and answer.get("type") == "email":
            email = _text(answer.get("email"))
            break
    hidden = form_response.get("hidden")
    if email is None and options.email_hidden_field and isinstance(hidden, Mapping):
        email = _text(hidden.get(options.email_hidden_field))

    comment = None
    if options.comment_ref:
        comment_answer = _typeform_answer(answers, form_response, options.comment_ref)
        if isinstance(comment_answer, Mapping):
            comment = _text(comment_answer.get("text"))

    token = _text(form_response.get("token"))
    response = {
        "kind": options.kind,
        "score": int(score),
        "comment": comment,
        "email": email,
        "answered_at": _text(form_response.get("submitted_at")),
        "source": TYPEFORM_SOURCE,
        "external_id": token or event_id,
    }
    return WebhookBatch(event_id, responses=[response])


# --- Delighted ------------------------------------------------------------------------------


def _unix_to_iso(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, UTC).isoformat()


def delighted_batch(payload: Any) -> WebhookBatch:
    """A Delighted ``survey_response.created`` / ``.updated`` webhook as one response.

    Delighted sends the whole response again on every change (the comment usually arrives in
    an ``updated`` event), so the response id is the idempotency key and the event id the
    delivery id.
    """
    body = _object(payload, "body")
    event_id = _text(body.get("event_id"))
    event_type = str(body.get("event_type") or "")
    if not event_type.startswith("survey_response."):
        return WebhookBatch(event_id, ignored=f"event_type {event_type!r} carries no response")
    data = _object(body.get("event_data"), "event_data")
    # Payloads from before Delighted had CSAT carry no survey_type: they are NPS.
    kind = str(data.get("survey_type") or "nps").lower()
    if kind not in _DELIGHTED_KINDS:
        raise PayloadError(
            f"survey_type {kind!r} is not stored by cx360 (nps, csat).", "event_data.survey_type"
        )
    score = data.get("score")
    if isinstance(score, bool) or not isinstance(score, int):
        raise PayloadError(f"Expected a whole-number score (got {score!r}).", "event_data.score")
    response_id = _text(data.get("id"))
    if response_id is None:
        raise PayloadError("The survey response has no id.", "event_data.id")
    person = data.get("person")
    email = _text(person.get("email")) if isinstance(person, Mapping) else None
    response = {
        "kind": kind,
        "score": score,
        "comment": _text(data.get("comment")),
        "email": email,
        "answered_at": _unix_to_iso(data.get("created_at")),
        "source": DELIGHTED_SOURCE,
        "external_id": response_id,
    }
    return WebhookBatch(event_id, responses=[response])


# --- Generic (Standard Webhooks, our own schema) ---------------------------------------------


def _is_rating(item: Any) -> bool:
    return isinstance(item, Mapping) and any(key in item for key in _RATING_KEYS)


def generic_batch(payload: Any, message_id: str) -> WebhookBatch:
    """Our own input shape, signed with Standard Webhooks.

    Accepted bodies: one response, ``{"responses": [...]}``, one rating,
    ``{"ratings": [...]}``, or any of these wrapped in the Standard Webhooks envelope
    ``{"type": ..., "timestamp": ..., "data": ...}``. Items without ``source`` /
    ``external_id`` get ``webhook`` and the message id, so a resend stays idempotent.
    """
    body = _object(payload, "body")
    if "data" in body and "type" in body:
        body = _object(body["data"], "data")

    def keyed(items: Any, where: str) -> list[dict[str, Any]]:
        if not isinstance(items, list) or not items:
            raise PayloadError("Expected a non-empty list.", where)
        out = []
        for index, item in enumerate(items):
            entry = dict(_object(item, f"{where}.{index}"))
            entry.setdefault("source", GENERIC_SOURCE)
            if entry.get("external_id") is None:
                entry["external_id"] = message_id if len(items) == 1 else f"{message_id}:{index}"
            out.append(entry)
        return out

    if "responses" in body or "ratings" in body:
        extra = sorted(set(body) - {"responses", "ratings"})
        if extra:
            raise PayloadError(f"Unknown field(s) beside the lists: {', '.join(extra)}.", "body")
        return WebhookBatch(
            message_id,
            responses=keyed(body["responses"], "responses") if "responses" in body else [],
            ratings=keyed(body["ratings"], "ratings") if "ratings" in body else [],
        )
    if _is_rating(body):
        return WebhookBatch(message_id, ratings=keyed([body], "body"))
    if "score" not in body:
        raise PayloadError("A response needs a score (or give a rating's relationship).", "score")
    return WebhookBatch(message_id, responses=keyed([body], "body"))
