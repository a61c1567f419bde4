"""POST /webhooks/*: the documented payloads through the Flask test client, on SQLite and
PostgreSQL: signatures, replays, updates, bad bodies, storage outages."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from connector.app import database
from connector.storage import (
    Contact,
    EmployeeRating,
    OutboxItem,
    Response,
    Scorecard,
    WebhookDelivery,
)
from connector.webhooks.signatures import sign_delighted, sign_standard_webhook, sign_typeform
from tests.conftest import count_rows

FIXTURES = Path(__file__).parent / "fixtures"
TYPEFORM_BODY = (FIXTURES / "typeform_signature_body.raw.json").read_bytes()
TYPEFORM_PUBLISHED = "sha256=VsvwNrh0fT5VWF+05H3azXZXJyFkhHTtONMxIVm6PZ4="
DELIGHTED_BODY = (FIXTURES / "delighted_signature_body.raw.json").read_bytes()
DELIGHTED_KEY = "delighted-test-api-key"
WHSEC = "whsec_" + base64.b64encode(b"cx360-generic-webhook-test-key!!").decode()


@pytest.fixture
def hooks(app: Flask) -> Flask:
    app.config.update(
        CX360_TYPEFORM_SECRETS="rotated-out, 123456",
        CX360_DELIGHTED_SECRETS=DELIGHTED_KEY,
        CX360_WEBHOOK_SECRETS=WHSEC,
        CX360_TYPEFORM_SCORE_REF="readable_ref_opinion_scale",
        CX360_TYPEFORM_COMMENT_REF="readable_ref_long_text",
        CX360_TYPEFORM_KIND="csat",
    )
    return app


def _responses(app: Flask) -> list[Response]:
    with database(app).session() as session:
        return list(session.scalars(select(Response).order_by(Response.id)))


def _post_typeform(client: FlaskClient, body: bytes, signature: str | None) -> Any:
    headers = {"Typeform-Signature": signature} if signature else {}
    return client.post(
        "/webhooks/typeform", data=body, headers=headers, content_type="application/json"
    )


def _post_delighted(client: FlaskClient, body: bytes, signature: str | None = None) -> Any:
    headers = {"X-Delighted-Webhook-Signature": signature or sign_delighted(body, DELIGHTED_KEY)}
    return client.post(
        "/webhooks/delighted", data=body, headers=headers, content_type="application/json"
    )


def _post_generic(
    client: FlaskClient,
    payload: Any,
    msg_id: str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
    *,
    at: datetime | None = None,
    secret: str = WHSEC,
) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    timestamp = int((at or datetime.now(UTC)).timestamp())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_standard_webhook(msg_id, timestamp, body, secret),
    }
    return client.post(
        "/webhooks/generic", data=body, headers=headers, content_type="application/json"
    )


def _assert_error(reply: Any, code: int) -> dict[str, Any]:
    assert reply.status_code == code, reply.get_data(as_text=True)
    body: dict[str, Any] = reply.get_json()
    assert body["code"] == code and body["status"] and body["message"]
    assert "Traceback" not in reply.get_data(as_text=True)
    return body


# --- Typeform -------------------------------------------------------------------------------


def test_given_documented_typeform_payload_and_published_signature_when_posted_then_stored(
    hooks: Flask, client: FlaskClient
):
    reply = _post_typeform(client, TYPEFORM_BODY, TYPEFORM_PUBLISHED)
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["status"] == "stored" and reply.get_json()["created"] == 1
    [stored] = _responses(hooks)
    assert (stored.source, stored.external_id) == ("typeform", "a3a12ec67a1365927098a606107fac15")
    assert (stored.kind, stored.score) == ("csat", 2)
    assert stored.comment is not None and stored.comment.startswith("It's cold right now!")
    assert stored.answered_at == datetime(2018, 1, 18, 18, 17, 2, tzinfo=UTC)
    with database(hooks).session() as session:
        contact = session.get(Contact, stored.contact_id)
        assert contact is not None and contact.email == "laura@example.com"
        outbox = session.scalars(select(OutboxItem)).all()
        assert ("contact", stored.contact_id) in {(o.subject_type, o.subject_id) for o in outbox}
        # acknowledged fast: scoring is the worker's job
        assert session.scalar(select(Scorecard).where(Scorecard.subject_id == contact.id)) is None
    assert count_rows(hooks, WebhookDelivery) == 1


@pytest.mark.parametrize(
    ("body", "signature"),
    [
        pytest.param(TYPEFORM_BODY, None, id="missing"),
        pytest.param(TYPEFORM_BODY, sign_typeform(TYPEFORM_BODY, "wrong"), id="other-secret"),
        pytest.param(TYPEFORM_BODY + b"\n", TYPEFORM_PUBLISHED, id="body-altered"),
        pytest.param(
            (FIXTURES / "typeform_form_response.json").read_bytes(),
            TYPEFORM_PUBLISHED,
            id="body-reserialised",
        ),
    ],
)
def test_given_bad_typeform_signature_when_posted_then_401_and_nothing_stored(
    hooks: Flask, client: FlaskClient, body: bytes, signature: str | None
):
    _assert_error(_post_typeform(client, body, signature), 401)
    assert count_rows(hooks, Response) == 0
    assert count_rows(hooks, WebhookDelivery) == 0


def test_given_no_typeform_secret_configured_when_posted_then_401(
    hooks: Flask, client: FlaskClient
):
    hooks.config["CX360_TYPEFORM_SECRETS"] = ""
    body = _assert_error(_post_typeform(client, TYPEFORM_BODY, TYPEFORM_PUBLISHED), 401)
    assert "configured" in body["message"]


def test_given_typeform_delivery_replayed_hours_later_when_posted_then_nothing_changes(
    hooks: Flask, client: FlaskClient
):
    assert _post_typeform(client, TYPEFORM_BODY, TYPEFORM_PUBLISHED).status_code == 200
    [before] = _responses(hooks)
    outbox_before = count_rows(hooks, OutboxItem)

    replay = _post_typeform(client, TYPEFORM_BODY, TYPEFORM_PUBLISHED)

    assert replay.status_code == 200 and replay.get_json()["status"] == "duplicate"
    [after] = _responses(hooks)
    assert (after.id, after.updated_at, after.comment) == (
        before.id,
        before.updated_at,
        before.comment,
    )
    assert count_rows(hooks, OutboxItem) == outbox_before


def test_given_typeform_form_without_score_answer_when_posted_then_400_with_reason(
    hooks: Flask, client: FlaskClient
):
    payload = json.loads(TYPEFORM_BODY)
    payload["form_response"]["answers"] = [
        a for a in payload["form_response"]["answers"] if a["field"]["type"] != "opinion_scale"
    ]
    body = json.dumps(payload).encode()
    error = _assert_error(_post_typeform(client, body, sign_typeform(body, "123456")), 400)
    assert "readable_ref_opinion_scale" in error["message"]
    assert "form_response.answers" in error["errors"]["json"]
    assert count_rows(hooks, WebhookDelivery) == 0


def test_given_typeform_score_out_of_range_when_posted_then_400_names_the_field(
    hooks: Flask, client: FlaskClient
):
    payload = json.loads(TYPEFORM_BODY)
    payload["form_response"]["answers"][9]["number"] = 7  # csat is 1..5
    body = json.dumps(payload).encode()
    error = _assert_error(_post_typeform(client, body, sign_typeform(body, "123456")), 400)
    assert "score" in error["errors"]["json"]["0"]


# --- Delighted ------------------------------------------------------------------------------


def _delighted(event_id: str, event_type: str, comment: str | None, **data: Any) -> bytes:
    payload = json.loads(DELIGHTED_BODY)
    payload.update(event_id=event_id, event_type=event_type)
    payload["event_data"].update(comment=comment, **data)
    return json.dumps(payload).encode()


def test_given_documented_delighted_payload_when_posted_then_stored(
    hooks: Flask, client: FlaskClient
):
    reply = _post_delighted(client, DELIGHTED_BODY)
    assert reply.status_code == 200, reply.get_json()
    [stored] = _responses(hooks)
    assert (stored.source, stored.external_id, stored.kind, stored.score) == (
        "delighted",
        "5435",
        "nps",
        9,
    )
    assert stored.comment == "Your service is fast and flawless!"


def test_given_delighted_created_then_comment_added_when_posted_then_same_response_updated(
    hooks: Flask, client: FlaskClient
):
    created = _delighted("e-created", "survey_response.created", None)
    assert _post_delighted(client, created).get_json()["created"] == 1
    [first] = _responses(hooks)
    assert first.comment is None

    updated = _post_delighted(client, DELIGHTED_BODY)

    assert updated.status_code == 200 and updated.get_json()["updated"] == 1
    [second] = _responses(hooks)
    assert second.id == first.id
    assert second.comment == "Your service is fast and flawless!"


def test_given_delighted_event_replayed_when_posted_then_duplicate_and_no_change(
    hooks: Flask, client: FlaskClient
):
    assert _post_delighted(client, DELIGHTED_BODY).status_code == 200
    [before] = _responses(hooks)
    # Same event id, different content: still the same delivery, so nothing may change.
    replay = _delighted(json.loads(DELIGHTED_BODY)["event_id"], "survey_response.updated", "x")
    reply = _post_delighted(client, replay)
    assert reply.status_code == 200 and reply.get_json()["status"] == "duplicate"
    [after] = _responses(hooks)
    assert (after.comment, after.updated_at) == (before.comment, before.updated_at)


@pytest.mark.parametrize(
    "signature",
    [
        sign_delighted(DELIGHTED_BODY, "another-api-key"),
        "sha256=",
        "sha1=5687e7bbf14d1d28897ca79fba93805979678e8f",
        "",
    ],
    ids=["other-key", "empty-digest", "other-scheme", "empty"],
)
def test_given_bad_delighted_signature_when_posted_then_401(
    hooks: Flask, client: FlaskClient, signature: str
):
    reply = client.post(
        "/webhooks/delighted",
        data=DELIGHTED_BODY,
        headers={"X-Delighted-Webhook-Signature": signature},
        content_type="application/json",
    )
    _assert_error(reply, 401)
    assert count_rows(hooks, Response) == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"event_type": "survey_response.updated", ', "Malformed JSON"),
        (b"", "empty"),
        (b"[1, 2]", "JSON object"),
        (_delighted("e2", "survey_response.updated", None, score=None), "score"),
        (_delighted("e3", "survey_response.updated", None, survey_type="ces"), "survey_type"),
    ],
    ids=["truncated-json", "empty", "not-an-object", "null-score", "unsupported-survey-type"],
)
def test_given_unusable_delighted_body_when_posted_then_400_with_reason(
    hooks: Flask, client: FlaskClient, body: bytes, reason: str
):
    error = _assert_error(_post_delighted(client, body), 400)
    assert reason in error["message"]
    assert count_rows(hooks, Response) == 0


def test_given_delighted_unsubscribe_when_posted_then_acknowledged_and_ignored(
    hooks: Flask, client: FlaskClient
):
    body = b'{"event_type":"unsubscribe.created","event_id":"eb14","event_data":{}}'
    reply = _post_delighted(client, body)
    assert reply.status_code == 200 and reply.get_json()["status"] == "ignored"
    assert count_rows(hooks, Response) == 0


# --- Generic (Standard Webhooks) ------------------------------------------------------------

GENERIC_RESPONSE = {
    "kind": "nps",
    "score": 10,
    "email": "Ana@Example.com",
    "comment": "Great onboarding",
    "answered_at": "2024-05-02T10:00:00+02:00",
    "touchpoint": "onboarding",
}
GENERIC_RATING = {
    "employee": "rep@example.com",
    "email": "ana@example.com",
    "relationship": 4,
    "potential": 9,
    "comment": "Big budget, hard to work with",
}


def test_given_signed_response_when_posted_to_generic_then_stored_under_message_id(
    hooks: Flask, client: FlaskClient
):
    reply = _post_generic(client, GENERIC_RESPONSE, "msg_a")
    assert reply.status_code == 200, reply.get_json()
    [stored] = _responses(hooks)
    assert (stored.source, stored.external_id, stored.score) == ("webhook", "msg_a", 10)


def test_given_signed_rating_when_posted_to_generic_then_employee_rating_stored(
    hooks: Flask, client: FlaskClient
):
    reply = _post_generic(client, {"ratings": [GENERIC_RATING]}, "msg_r")
    assert reply.status_code == 200, reply.get_json()
    with database(hooks).session() as session:
        [rating] = session.scalars(select(EmployeeRating)).all()
        assert (rating.employee, rating.relationship, rating.potential) == (
            "rep@example.com",
            4,
            9,
        )
        assert rating.contact_id is not None


def test_given_generic_message_id_replayed_hours_later_when_posted_then_no_change(
    hooks: Flask, client: FlaskClient
):
    assert _post_generic(client, GENERIC_RESPONSE, "msg_b").status_code == 200
    [before] = _responses(hooks)
    # A sender retrying hours later re-signs with a fresh timestamp; the id is what repeats.
    changed = GENERIC_RESPONSE | {"comment": "edited"}
    reply = _post_generic(client, changed, "msg_b", at=datetime.now(UTC) + timedelta(seconds=1))
    assert reply.status_code == 200 and reply.get_json()["status"] == "duplicate"
    [after] = _responses(hooks)
    assert (after.comment, after.updated_at) == (before.comment, before.updated_at)


def test_given_same_external_id_in_new_message_when_posted_then_response_updated(
    hooks: Flask, client: FlaskClient
):
    first = GENERIC_RESPONSE | {"source": "forms", "external_id": "r-1", "comment": None}
    assert _post_generic(client, first, "msg_c1").status_code == 200
    reply = _post_generic(client, first | {"comment": "added later"}, "msg_c2")
    assert reply.get_json()["updated"] == 1
    [stored] = _responses(hooks)
    assert stored.comment == "added later"


@pytest.mark.parametrize("minutes", [-6, 6, -180])
def test_given_stale_timestamp_when_posted_to_generic_then_401(
    hooks: Flask, client: FlaskClient, minutes: int
):
    reply = _post_generic(
        client, GENERIC_RESPONSE, at=datetime.now(UTC) + timedelta(minutes=minutes)
    )
    error = _assert_error(reply, 401)
    assert "minutes" in error["message"]
    assert count_rows(hooks, Response) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
        {"webhook-id": "m", "webhook-timestamp": "now", "webhook-signature": "v1,AAAA"},
    ],
    ids=["no-headers", "bad-signature", "bad-timestamp"],
)
def test_given_unsigned_generic_post_when_posted_then_401(
    hooks: Flask, client: FlaskClient, headers: dict[str, str]
):
    reply = client.post("/webhooks/generic", json=GENERIC_RESPONSE, headers=headers)
    _assert_error(reply, 401)


def test_given_signature_with_other_secret_when_posted_to_generic_then_401(
    hooks: Flask, client: FlaskClient
):
    other = "whsec_" + base64.b64encode(b"some-other-key").decode()
    _assert_error(_post_generic(client, GENERIC_RESPONSE, secret=other), 401)


def test_given_rotated_generic_secrets_when_posted_with_old_secret_then_accepted(
    hooks: Flask, client: FlaskClient
):
    new = "whsec_" + base64.b64encode(b"the-new-key-after-rotation").decode()
    hooks.config["CX360_WEBHOOK_SECRETS"] = f"{new},{WHSEC}"
    assert _post_generic(client, GENERIC_RESPONSE, "msg_old", secret=WHSEC).status_code == 200
    assert _post_generic(client, GENERIC_RESPONSE, "msg_new", secret=new).status_code == 200


@pytest.mark.parametrize(
    ("payload", "code", "where"),
    [
        ({"kind": "nps", "email": "a@example.com"}, 400, "score"),
        (GENERIC_RESPONSE | {"score": 11}, 400, "0"),
        (GENERIC_RESPONSE | {"colour": "red"}, 400, "0"),
        (b"{not json", 400, None),
    ],
    ids=["no-score", "score-out-of-range", "unknown-field", "malformed-json"],
)
def test_given_unusable_generic_payload_when_posted_then_400_and_nothing_stored(
    hooks: Flask, client: FlaskClient, payload: Any, code: int, where: str | None
):
    error = _assert_error(_post_generic(client, payload), code)
    if where is not None:
        assert where in error["errors"]["json"]
    assert count_rows(hooks, Response) == 0
    assert count_rows(hooks, WebhookDelivery) == 0


# --- Storage outage -------------------------------------------------------------------------


@pytest.fixture
def storage_down(hooks: Flask) -> Callable[[], None]:
    """Point the app's sessions at a server that refuses connections."""

    def break_storage() -> None:
        engine = create_engine("postgresql+psycopg://cx360@127.0.0.1:9/none")
        database(hooks).sessions = sessionmaker(engine)

    return break_storage


@pytest.mark.parametrize("provider", ["typeform", "delighted", "generic"])
def test_given_storage_unavailable_when_posted_then_503_with_retry_after(
    hooks: Flask,
    client: FlaskClient,
    storage_down: Callable[[], None],
    provider: str,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.WARNING, logger="connector.api.errors")
    storage_down()
    if provider == "typeform":
        reply = _post_typeform(client, TYPEFORM_BODY, TYPEFORM_PUBLISHED)
    elif provider == "delighted":
        reply = _post_delighted(client, DELIGHTED_BODY)
    else:
        reply = _post_generic(client, GENERIC_RESPONSE)
    _assert_error(reply, 503)
    assert int(reply.headers["Retry-After"]) > 0
    # the log says why, in the driver's words: no SQLSTATE for a refused connection
    [logged] = [r.getMessage() for r in caplog.records if r.name == "connector.api.errors"]
    assert logged.startswith("storage unavailable, answered 503: no SQLSTATE (OperationalError)")
    assert "Connection refused" in logged or "connection failed" in logged, logged


def test_given_two_bad_items_of_different_kinds_when_posted_then_400_names_both(
    hooks: Flask, client: FlaskClient
):
    # One item's field error (score not an integer) used to hide the other's item-level error
    # (no person given): a sender fixing the first found the second only on the next try.
    items = [dict(GENERIC_RESPONSE, score="ten"), {"kind": "nps", "score": 5}]
    error = _assert_error(_post_generic(client, {"responses": items}, "msg_two_bad"), 400)
    assert set(error["errors"]["json"]) == {"0", "1"}
    assert "score" in error["errors"]["json"]["0"]
    assert "email" in error["errors"]["json"]["1"]
    assert count_rows(hooks, Response) == 0
