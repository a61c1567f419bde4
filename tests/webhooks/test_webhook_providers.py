"""Provider payloads (the documented examples) mapped to the REST input shape."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from connector.api.schemas import RatingIn, ResponseIn
from connector.webhooks.providers import (
    PayloadError,
    TypeformOptions,
    delighted_batch,
    generic_batch,
    parse_json_body,
    typeform_batch,
)

FIXTURES = Path(__file__).parent / "fixtures"
TYPEFORM: dict[str, Any] = json.loads((FIXTURES / "typeform_form_response.json").read_text())
DELIGHTED: dict[str, Any] = json.loads((FIXTURES / "delighted_survey_response.json").read_text())


def _answers(payload: dict[str, Any]) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = payload["form_response"]["answers"]
    return answers


# --- Typeform -------------------------------------------------------------------------------


def test_given_documented_typeform_example_when_mapping_by_ref_then_one_valid_response():
    options = TypeformOptions(
        score_ref="readable_ref_opinion_scale", comment_ref="readable_ref_long_text"
    )
    batch = typeform_batch(TYPEFORM, options)
    assert batch.delivery_id == "LtWXD3crgy"
    assert batch.ratings == [] and batch.ignored is None
    assert batch.responses == [
        {
            "kind": "nps",
            "score": 2,
            "comment": "It's cold right now! I live in an older medium-sized city with a "
            "university. Geographically, the area is hilly.",
            "email": "laura@example.com",
            "answered_at": "2018-01-18T18:17:02Z",
            "source": "typeform",
            "external_id": "a3a12ec67a1365927098a606107fac15",
        }
    ]
    loaded = ResponseIn().load(batch.responses[0])
    assert loaded["score"] == 2 and loaded["email"] == "laura@example.com"


@pytest.mark.parametrize(
    ("score_ref", "expected"),
    [
        ("readable_ref_opinion_scale", 2),
        ("readable_ref_rating", 3),
        ("readable_ref_number2", 4),
        ("NRsxU591jIW9", 2),  # the field id works as well as the ref
        ("", 2),  # unset: the form's only opinion-scale answer
    ],
)
def test_given_score_ref_when_mapping_typeform_then_that_answer_is_the_score(
    score_ref: str, expected: int
):
    batch = typeform_batch(TYPEFORM, TypeformOptions(score_ref=score_ref, kind="csat"))
    assert batch.responses[0]["score"] == expected
    assert batch.responses[0]["kind"] == "csat"


def test_given_answer_carrying_its_ref_when_mapping_typeform_then_found_without_definition():
    payload = copy.deepcopy(TYPEFORM)
    del payload["form_response"]["definition"]
    _answers(payload)[9]["field"]["ref"] = "nps_question"
    batch = typeform_batch(payload, TypeformOptions(score_ref="nps_question"))
    assert batch.responses[0]["score"] == 2


def test_given_no_email_answer_when_hidden_field_configured_then_email_from_hidden_field():
    payload = copy.deepcopy(TYPEFORM)
    payload["form_response"]["answers"] = [a for a in _answers(payload) if a["type"] != "email"]
    payload["form_response"]["hidden"] = {"user_id": "abc123456", "email": "Laura@Example.com"}
    batch = typeform_batch(payload, TypeformOptions(email_hidden_field="email"))
    assert batch.responses[0]["email"] == "Laura@Example.com"
    assert ResponseIn().load(batch.responses[0])["email"] == "laura@example.com"


def test_given_no_comment_ref_when_mapping_typeform_then_no_comment():
    assert typeform_batch(TYPEFORM, TypeformOptions()).responses[0]["comment"] is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda p: _answers(p).pop(9), "Found 0 NPS/opinion-scale answers"),
        (lambda p: _answers(p)[10]["field"].update(type="opinion_scale"), "Found 2"),
        (lambda p: _answers(p)[9].update(number=None), "not a whole number"),
        (lambda p: _answers(p)[9].update(number=7.5), "not a whole number"),
        (lambda p: p["form_response"].update(answers="none"), "list of answers"),
        (lambda p: p.update(form_response=None), "JSON object"),
    ],
    ids=["no-scale-answer", "two-scale-answers", "null-score", "fraction", "answers", "no-form"],
)
def test_given_typeform_payload_without_usable_score_when_mapping_then_payload_error(
    change: Any, reason: str
):
    payload = copy.deepcopy(TYPEFORM)
    change(payload)
    with pytest.raises(PayloadError, match=reason):
        typeform_batch(payload, TypeformOptions())


def test_given_configured_score_ref_missing_when_mapping_typeform_then_reason_names_ref():
    with pytest.raises(PayloadError, match="nps_q") as caught:
        typeform_batch(TYPEFORM, TypeformOptions(score_ref="nps_q"))
    assert caught.value.field == "form_response.answers"


def test_given_other_typeform_event_when_mapping_then_ignored_with_its_id():
    payload = {"event_id": "01X", "event_type": "form_response_partial", "form_response": {}}
    batch = typeform_batch(payload, TypeformOptions())
    assert batch.delivery_id == "01X" and batch.responses == [] and batch.ignored


def test_given_config_when_building_typeform_options_then_values_trimmed():
    options = TypeformOptions.from_config(
        {
            "CX360_TYPEFORM_SCORE_REF": " nps ",
            "CX360_TYPEFORM_COMMENT_REF": "why",
            "CX360_TYPEFORM_EMAIL_HIDDEN_FIELD": "email",
            "CX360_TYPEFORM_KIND": "CSAT",
        }
    )
    assert options == TypeformOptions("nps", "why", "email", "csat")


# --- Delighted ------------------------------------------------------------------------------


def test_given_documented_delighted_example_when_mapping_then_one_valid_response():
    batch = delighted_batch(DELIGHTED)
    assert batch.delivery_id == DELIGHTED["event_id"]
    assert batch.responses == [
        {
            "kind": "nps",
            "score": 9,
            "comment": "Your service is fast and flawless!",
            "email": "charlie_gravis@example.com",
            "answered_at": "2018-09-20T20:20:18+00:00",
            "source": "delighted",
            "external_id": "5435",
        }
    ]
    assert ResponseIn().load(batch.responses[0])["score"] == 9


@pytest.mark.parametrize(
    ("survey_type", "kind"), [("nps", "nps"), ("csat", "csat"), ("CSAT", "csat"), (None, "nps")]
)
def test_given_delighted_survey_type_when_mapping_then_kind(survey_type: str | None, kind: str):
    payload = copy.deepcopy(DELIGHTED)
    payload["event_data"]["survey_type"] = survey_type
    payload["event_data"]["score"] = 4
    assert delighted_batch(payload).responses[0]["kind"] == kind


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(survey_type="ces"), "event_data.survey_type"),
        (lambda d: d.update(score=None), "event_data.score"),
        (lambda d: d.update(score="9"), "event_data.score"),
        (lambda d: d.pop("id"), "event_data.id"),
    ],
    ids=["unsupported-survey-type", "null-score", "string-score", "no-id"],
)
def test_given_delighted_payload_without_usable_score_when_mapping_then_error_names_field(
    change: Any, field: str
):
    payload = copy.deepcopy(DELIGHTED)
    change(payload["event_data"])
    with pytest.raises(PayloadError) as caught:
        delighted_batch(payload)
    assert caught.value.field == field


def test_given_delighted_unsubscribe_when_mapping_then_ignored():
    batch = delighted_batch({"event_type": "unsubscribe.created", "event_id": "eb14"})
    assert batch.ignored and batch.responses == [] and batch.delivery_id == "eb14"


def test_given_created_then_updated_events_when_mapping_then_same_idempotency_key():
    created = copy.deepcopy(DELIGHTED)
    created.update(event_type="survey_response.created", event_id="e1")
    created["event_data"]["comment"] = None
    first, second = delighted_batch(created), delighted_batch(DELIGHTED)
    assert first.delivery_id != second.delivery_id
    key = ("source", "external_id")
    assert [first.responses[0][k] for k in key] == [second.responses[0][k] for k in key]
    assert first.responses[0]["comment"] is None
    assert second.responses[0]["comment"] == "Your service is fast and flawless!"


# --- Generic --------------------------------------------------------------------------------

RESPONSE = {"kind": "csat", "score": 5, "email": "a@example.com"}
RATING = {
    "employee": "rep@example.com",
    "email": "a@example.com",
    "relationship": 3,
    "potential": 9,
}


@pytest.mark.parametrize(
    ("payload", "responses", "ratings"),
    [
        (RESPONSE, [RESPONSE | {"source": "webhook", "external_id": "msg_1"}], []),
        (RATING, [], [RATING | {"source": "webhook", "external_id": "msg_1"}]),
        (
            {"responses": [RESPONSE, RESPONSE | {"source": "form", "external_id": "r9"}]},
            [
                RESPONSE | {"source": "webhook", "external_id": "msg_1:0"},
                RESPONSE | {"source": "form", "external_id": "r9"},
            ],
            [],
        ),
        (
            {"ratings": [RATING]},
            [],
            [RATING | {"source": "webhook", "external_id": "msg_1"}],
        ),
        (
            {"type": "rating.created", "timestamp": "2024-01-01T00:00:00Z", "data": RATING},
            [],
            [RATING | {"source": "webhook", "external_id": "msg_1"}],
        ),
    ],
    ids=["response", "rating", "responses", "ratings", "envelope"],
)
def test_given_generic_payload_when_mapping_then_items_keyed_by_message_id(
    payload: dict[str, Any], responses: list[dict[str, Any]], ratings: list[dict[str, Any]]
):
    batch = generic_batch(payload, "msg_1")
    assert (batch.delivery_id, batch.responses, batch.ratings) == ("msg_1", responses, ratings)
    for item in batch.responses:
        ResponseIn().load(item)
    for item in batch.ratings:
        RatingIn().load(item)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"kind": "nps", "email": "a@example.com"}, "needs a score"),
        ({"responses": []}, "non-empty list"),
        ({"responses": [RESPONSE], "extra": 1}, "extra"),
        ([RESPONSE], "JSON object"),
        ({"responses": ["x"]}, "JSON object"),
    ],
)
def test_given_unusable_generic_payload_when_mapping_then_payload_error(payload: Any, reason: str):
    with pytest.raises(PayloadError, match=reason):
        generic_batch(payload, "msg_1")


# --- JSON body ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b'{"event_id": ', "Malformed JSON at line 1"),
        (b"\xff\xfe{}", "UTF-8"),
    ],
)
def test_given_bad_body_when_parsing_json_then_payload_error_says_why(body: bytes, reason: str):
    with pytest.raises(PayloadError, match=reason):
        parse_json_body(body)
