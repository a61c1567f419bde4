"""POST /api/v1/responses and /api/v1/ratings: storing, idempotency, atomic bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connector.storage import Contact, EmployeeRating, OutboxItem, Response, Scorecard
from tests.conftest import count_rows, score_outbox

NPS = {
    "kind": "nps",
    "score": 9,
    "email": "  Anna.Schmidt@Example.COM ",
    "answered_at": "2026-11-01T10:00:00+01:00",
    "source": "typeform",
    "external_id": "resp-1",
    "account_domain": "example.com",
    "comment": "Sehr gut",
    "touchpoint": "support",
}


def post(client: FlaskClient, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.post(path, json=body, headers=headers)


def test_given_single_response_when_posted_then_stored_with_normalised_email_and_outbox(
    app: Flask, client: FlaskClient, ingest_headers: dict[str, str]
):
    reply = post(client, "/api/v1/responses", NPS, ingest_headers)
    assert reply.status_code == 200, reply.json
    assert reply.json["created"] == 1 and reply.json["updated"] == 0
    assert count_rows(app, Response) == 1
    assert count_rows(app, Contact) == 1
    # one outbox row for the contact and one for its account, written with the data
    assert count_rows(app, OutboxItem) == 2
    # scoring is the worker's job: the request only stores
    assert count_rows(app, Scorecard) == 0
    score_outbox(app)
    assert count_rows(app, Scorecard) == 2


def test_given_resend_with_comment_added_when_posted_then_same_response_updated(
    app: Flask, client: FlaskClient, ingest_headers: dict[str, str], read_headers: dict[str, str]
):
    first = {**NPS, "comment": None}
    assert post(client, "/api/v1/responses", first, ingest_headers).json["created"] == 1
    again = post(client, "/api/v1/responses", first, ingest_headers).json
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 1)
    later = post(client, "/api/v1/responses", {**NPS, "comment": "Nachtrag"}, ingest_headers).json
    assert (later["created"], later["updated"]) == (0, 1)
    assert later["ids"] == again["ids"]
    assert count_rows(app, Response) == 1
    score_outbox(app)
    card = client.get("/api/v1/contacts/anna.schmidt@example.com/scorecard", headers=read_headers)
    assert card.json["metrics"]["nps.comment"] == "Nachtrag"


def test_given_batch_when_posted_then_all_stored_and_scorecards_computed(
    app: Flask, client: FlaskClient, ingest_headers: dict[str, str], read_headers: dict[str, str]
):
    batch = {
        "responses": [
            {**NPS, "external_id": "a", "score": 10, "email": "p1@example.com"},
            {**NPS, "external_id": "b", "score": 3, "email": "p2@example.com"},
            {**NPS, "external_id": "c", "score": 8, "email": "p3@example.com"},
            {**NPS, "external_id": "d", "score": 9, "email": "p4@example.com"},
            {**NPS, "external_id": "e", "kind": "csat", "score": 4, "email": "p4@example.com"},
        ]
    }
    reply = post(client, "/api/v1/responses", batch, ingest_headers)
    assert reply.status_code == 200, reply.json
    assert reply.json["created"] == 5 and len(reply.json["ids"]) == 5
    score_outbox(app)
    account = client.get("/api/v1/accounts/example.com/scorecard", headers=read_headers).json
    # 4 contacts: promoters p1 (10), p4 (9); passive p3 (8); detractor p2 (3)
    # NPS = 100 * (2 - 1) / 4 = 25.0
    assert account["metrics"]["nps.score"] == 25.0
    assert account["metrics"]["nps.responses"] == 4
    assert account["metrics"]["csat.pct"] == 100.0
    contact = client.get("/api/v1/contacts/p2@example.com/scorecard", headers=read_headers).json
    assert contact["metrics"]["nps.category"] == "detractor"
    assert contact["metrics"]["cx360.segment"] == "at_risk"


def test_given_crm_id_only_when_posted_then_contact_found_by_crm_id(
    app: Flask, client: FlaskClient, ingest_headers: dict[str, str], read_headers: dict[str, str]
):
    body = {"kind": "nps", "score": 7, "crm_id": "0035g00000XyZabAAB"}
    assert post(client, "/api/v1/responses", body, ingest_headers).status_code == 200
    score_outbox(app)
    card = client.get("/api/v1/contacts/0035g00000XyZabAAB/scorecard", headers=read_headers)
    assert card.status_code == 200
    assert card.json["metrics"]["nps.score"] == 7


BAD_ITEMS = [
    pytest.param({"score": "nine"}, "score", id="wrong-type"),
    pytest.param({"score": 11}, "score", id="nps-out-of-range"),
    pytest.param({"score": -1}, "score", id="nps-negative"),
    pytest.param({"kind": "csat", "score": 6}, "score", id="csat-over-scale"),
    pytest.param({"kind": "csat", "score": 0}, "score", id="csat-zero"),
    pytest.param({"kind": "ces"}, "kind", id="unknown-kind"),
    pytest.param({"email": None}, "email", id="no-email-no-crm-id"),
    pytest.param({"email": "not-an-email"}, "email", id="malformed-email"),
    pytest.param({"answered_at": "yesterday"}, "answered_at", id="unparseable-date"),
    pytest.param({"answered_at": "2026-11-01T10:00:00"}, "answered_at", id="no-timezone"),
    pytest.param({"colour": "blue"}, "colour", id="unknown-field"),
    pytest.param({"score": 9.5}, "score", id="fraction"),
]


@pytest.mark.parametrize(("change", "field"), BAD_ITEMS)
def test_given_one_bad_item_in_batch_when_posted_then_422_names_item_and_field_and_nothing_stored(
    app: Flask, client: FlaskClient, ingest_headers: dict[str, str], change: dict[str, Any],
    field: str,
):  # fmt: skip
    good = {**NPS, "external_id": "good"}
    bad = {**NPS, "external_id": "bad", **change}
    reply = post(client, "/api/v1/responses", {"responses": [good, bad]}, ingest_headers)
    assert reply.status_code == 422
    body = reply.json
    assert set(body) >= {"code", "status", "message", "errors"}
    assert body["code"] == 422
    assert field in body["errors"]["json"]["responses"]["1"]
    assert "0" not in body["errors"]["json"]["responses"]
    assert count_rows(app, Response) == 0
    assert count_rows(app, Contact) == 0
    assert count_rows(app, OutboxItem) == 0


def test_given_oversized_batch_when_posted_then_422_and_nothing_stored(
    app: Flask, client: FlaskClient, ingest_headers: dict[str, str]
):
    items = [{**NPS, "external_id": f"x{i}"} for i in range(1001)]
    reply = post(client, "/api/v1/responses", {"responses": items}, ingest_headers)
    assert reply.status_code == 422
    assert "At most 1000" in json.dumps(reply.json["errors"])
    assert count_rows(app, Response) == 0


def test_given_non_json_body_when_posted_then_400_in_error_shape(
    client: FlaskClient, ingest_headers: dict[str, str]
):
    reply = client.post(
        "/api/v1/responses",
        data="kind=nps&score=9",
        headers={**ingest_headers, "Content-Type": "application/json"},
    )
    assert reply.status_code == 400
    assert reply.json["code"] == 400 and "message" in reply.json


def test_given_body_over_one_mebibyte_when_posted_then_413_in_error_shape(
    app: Flask, client: FlaskClient, ingest_headers: dict[str, str]
):
    body = json.dumps({**NPS, "comment": "x" * (1024 * 1024)})
    reply = client.post(
        "/api/v1/responses",
        data=body,
        headers={**ingest_headers, "Content-Type": "application/json"},
    )
    assert reply.status_code == 413
    assert reply.json["code"] == 413
    assert count_rows(app, Response) == 0


def test_given_rating_of_contact_when_posted_then_reverse_nps_on_scorecard(
    app: Flask, client: FlaskClient, ingest_headers: dict[str, str], read_headers: dict[str, str]
):
    ratings = {
        "ratings": [
            {"employee": "K.Berger@corp.example", "email": "kunde@example.com",
             "relationship": 3, "potential": 9, "rated_at": "2026-10-01T09:00:00Z"},
            {"employee": "s.yilmaz@corp.example", "email": "kunde@example.com",
             "relationship": 6, "potential": 8, "rated_at": "2026-10-02T09:00:00Z"},
        ]
    }  # fmt: skip
    reply = post(client, "/api/v1/ratings", ratings, ingest_headers)
    assert reply.status_code == 200, reply.json
    assert count_rows(app, EmployeeRating) == 2
    score_outbox(app)
    card = client.get("/api/v1/contacts/kunde@example.com/scorecard", headers=read_headers).json
    metrics = card["metrics"]
    # both detractors (3, 6): rNPS -100; relationship mean 4.5 -> detractor; potential 8.5
    assert metrics["rnps.score"] == -100.0
    assert metrics["rnps.relationship_avg"] == 4.5
    assert metrics["rnps.potential_avg"] == 8.5
    assert metrics["rnps.raters"] == 2
    assert metrics["cx360.segment"] == "untapped"


def test_given_rating_without_customer_when_posted_then_422_names_email(
    client: FlaskClient, ingest_headers: dict[str, str]
):
    body = {"employee": "a@corp.example", "relationship": 5, "potential": 5}
    reply = post(client, "/api/v1/ratings", body, ingest_headers)
    assert reply.status_code == 422
    assert "email" in reply.json["errors"]["json"]  # a single object: no batch index


@pytest.mark.parametrize("field", ["relationship", "potential"])
def test_given_rating_out_of_range_when_posted_then_422_names_field(
    client: FlaskClient, ingest_headers: dict[str, str], field: str
):
    body = {"employee": "a@corp.example", "email": "k@example.com", "relationship": 5,
            "potential": 5, field: 11}  # fmt: skip
    reply = post(client, "/api/v1/ratings", body, ingest_headers)
    assert reply.status_code == 422
    assert field in reply.json["errors"]["json"]


# --- Errors that say everything at once (issue 18 #4) ---------------------------------------


@pytest.mark.parametrize(
    ("headers", "named"),
    [({}, "has no Content-Type"), ({"Content-Type": "text/plain"}, "got 'text/plain'")],
    ids=["missing", "text-plain"],
)
@pytest.mark.parametrize("path", ["/api/v1/responses", "/api/v1/ratings"])
def test_given_json_body_without_json_content_type_when_posted_then_415_saying_so(
    app: Flask,
    client: FlaskClient,
    ingest_headers: dict[str, str],
    path: str,
    headers: dict[str, str],
    named: str,
):
    reply = client.post(path, data=json.dumps(NPS), headers={**ingest_headers, **headers})
    assert reply.status_code == 415, reply.json
    assert reply.json["code"] == 415
    assert "Content-Type: application/json" in reply.json["message"]
    assert named in reply.json["message"]
    assert "Missing data" not in json.dumps(reply.json)
    assert count_rows(app, Response) == 0


def test_given_items_with_several_bad_fields_when_posted_then_every_field_of_every_item_named(
    app: Flask, client: FlaskClient, ingest_headers: dict[str, str]
):
    items = [
        {**NPS, "external_id": "a", "email": "not-an-address", "score": 11},
        {**NPS, "external_id": "b"},
        {**NPS, "external_id": "c", "kind": "ces", "answered_at": "gestern"},
    ]
    reply = post(client, "/api/v1/responses", {"responses": items}, ingest_headers)
    assert reply.status_code == 422
    assert reply.json["errors"]["json"] == {
        "responses": {
            "0": {
                "email": ["Not a valid email address."],
                "score": ["Must be between 0 and 10 for kind nps."],
            },
            "2": {
                "kind": ["Must be one of: nps, csat."],
                "answered_at": ["Not a valid datetime."],
            },
        }
    }
    assert count_rows(app, Response) == 0


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        (
            "/api/v1/responses",
            {**NPS, "email": "not-an-address", "score": 11},
            {
                "email": ["Not a valid email address."],
                "score": ["Must be between 0 and 10 for kind nps."],
            },
        ),
        (
            "/api/v1/ratings",
            {"employee": "a@corp.example", "email": "x", "relationship": 11, "potential": 5},
            {
                "email": ["Not a valid email address."],
                "relationship": [
                    "Must be greater than or equal to 0 and less than or equal to 10."
                ],
            },
        ),
    ],
    ids=["response", "rating"],
)
def test_given_single_invalid_object_when_posted_then_its_errors_without_a_batch_index(
    client: FlaskClient,
    ingest_headers: dict[str, str],
    path: str,
    body: dict[str, Any],
    expected: dict[str, Any],
):
    reply = post(client, path, body, ingest_headers)
    assert reply.status_code == 422
    assert reply.json["errors"]["json"] == expected
