"""The input schemas ResponseIn and RatingIn: what they accept, how they normalise, what each
error says, how the OpenAPI document describes them, and that their cheap loading path gives
exactly what marshmallow's general one gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields
from marshmallow.error_store import ErrorStore

from connector.api.schemas import RatingBatchIn, RatingIn, ResponseBatchIn, ResponseIn
from connector.app import create_app

RESPONSE = {"kind": "nps", "score": 9, "email": "anna@example.com"}
RATING = {"employee": "ben@corp.example", "relationship": 8, "potential": 9,
          "email": "anna@example.com"}  # fmt: skip


def errors_of(schema: Schema, data: Any) -> dict[Any, Any]:
    with pytest.raises(ValidationError) as caught:
        schema.load(data)
    messages: dict[Any, Any] = caught.value.normalized_messages()
    return messages


def test_given_blanks_and_capitals_when_loading_response_then_values_normalised():
    loaded = ResponseIn().load(
        {
            "kind": " csat ",
            "score": 4,
            "email": "  Anna.Schmidt@Example.COM ",
            "account_domain": " Example.COM",
            "answered_at": " 2026-11-01T10:00:00+01:00 ",
            "comment": "  Sehr gut ",
            "touchpoint": "   ",
            "channel": "",
            "external_id": " r-1 ",
        }
    )
    assert loaded == {
        "kind": "csat",
        "score": 4,
        "comment": "Sehr gut",
        "email": "anna.schmidt@example.com",
        "crm_id": None,
        "account_crm_id": None,
        "account_domain": "example.com",
        "answered_at": datetime(2026, 11, 1, 10, tzinfo=timezone(timedelta(hours=1))),
        "touchpoint": None,
        "channel": None,
        "source": "api",
        "external_id": "r-1",
    }


def test_given_utc_z_timestamp_when_loading_then_aware_utc_datetime():
    loaded = ResponseIn().load({**RESPONSE, "answered_at": "2026-01-05T09:00:00Z"})
    assert loaded["answered_at"] == datetime(2026, 1, 5, 9, tzinfo=UTC)


def test_given_rating_when_loading_then_employee_lower_cased_and_account_key_enough():
    loaded = RatingIn().load({**RATING, "employee": " Ben@Corp.Example ", "email": None,
                              "account_domain": "Example.com"})  # fmt: skip
    assert loaded["employee"] == "ben@corp.example"
    assert (loaded["email"], loaded["account_domain"]) == (None, "example.com")


BAD_RESPONSES = [
    ({"kind": " NPS "}, {"kind": ["Must be one of: nps, csat."]}),
    ({"kind": "ces"}, {"kind": ["Must be one of: nps, csat."]}),
    ({"score": "9"}, {"score": ["Not a valid integer."]}),
    ({"score": 9.0}, {"score": ["Not a valid integer."]}),
    ({"score": True}, {"score": ["Not a valid integer."]}),
    ({"score": None}, {"score": ["Field may not be null."]}),
    ({"score": 11}, {"score": ["Must be between 0 and 10 for kind nps."]}),
    ({"kind": "csat", "score": 0}, {"score": ["Must be between 1 and 5 for kind csat."]}),
    ({"kind": "csat", "score": 6}, {"score": ["Must be between 1 and 5 for kind csat."]}),
    ({"email": "not-an-email"}, {"email": ["Not a valid email address."]}),
    ({"email": "  "}, {"email": ["Not a valid email address."]}),
    ({"email": 5}, {"email": ["Not a valid email address."]}),
    ({"email": None}, {"email": ["Give email or crm_id."]}),
    ({"account_domain": "example"}, {"account_domain": ["Not a domain name."]}),
    ({"answered_at": "yesterday"}, {"answered_at": ["Not a valid datetime."]}),
    ({"answered_at": 5}, {"answered_at": ["Not a valid datetime."]}),
    ({"answered_at": "2026-11-01T10:00:00"}, {"answered_at": ["Not a valid aware datetime."]}),
    ({"answered_at": "2026-11-01"}, {"answered_at": ["Not a valid aware datetime."]}),
    ({"comment": "x" * 10001}, {"comment": ["Longer than maximum length 10000."]}),
    ({"crm_id": "x" * 65}, {"crm_id": ["Longer than maximum length 64."]}),
    ({"touchpoint": 7}, {"touchpoint": ["Not a valid string."]}),
    ({"source": ""}, {"source": ["Length must be between 1 and 64."]}),
    ({"source": None}, {"source": ["Field may not be null."]}),
    ({"external_id": " "}, {"external_id": ["Length must be between 1 and 255."]}),
    ({"colour": "blue"}, {"colour": ["Unknown field."]}),
]


@pytest.mark.parametrize(("change", "expected"), BAD_RESPONSES)
def test_given_bad_response_when_loading_then_error_names_field_and_problem(
    change: dict[str, Any], expected: dict[str, list[str]]
):
    assert errors_of(ResponseIn(), {**RESPONSE, **change}) == expected


def test_given_csat_scale_when_loading_then_scores_checked_against_it():
    assert ResponseIn(csat_scale=7).load({**RESPONSE, "kind": "csat", "score": 7})["score"] == 7
    assert errors_of(ResponseIn(csat_scale=7), {**RESPONSE, "kind": "csat", "score": 8}) == {
        "score": ["Must be between 1 and 7 for kind csat."]
    }


BAD_RATINGS = [
    ({"employee": " "}, {"employee": ["Length must be between 1 and 320."]}),
    (
        {"relationship": 11},
        {"relationship": ["Must be greater than or equal to 0 and less than or equal to 10."]},
    ),
    ({"potential": "8"}, {"potential": ["Not a valid integer."]}),
    ({"email": None}, {"email": ["Give email, crm_id, account_crm_id or account_domain."]}),
]


@pytest.mark.parametrize(("change", "expected"), BAD_RATINGS)
def test_given_bad_rating_when_loading_then_error_names_field_and_problem(
    change: dict[str, Any], expected: dict[str, list[str]]
):
    assert errors_of(RatingIn(), {**RATING, **change}) == expected


def test_given_batch_with_bad_items_when_loading_then_each_bad_item_named_with_its_fields():
    items = [{**RESPONSE, "email": "bad"}, RESPONSE, {**RESPONSE, "email": None}, {"kind": "nps"}]
    # a field error of one item hides no whole-item error of another
    assert errors_of(ResponseBatchIn(), {"responses": items}) == {
        "responses": {
            0: {"email": ["Not a valid email address."]},
            2: {"email": ["Give email or crm_id."]},
            3: {
                "score": ["Missing data for required field."],
                "email": ["Give email or crm_id."],
            },
        }
    }
    assert errors_of(RatingBatchIn(), {"ratings": [RATING, {**RATING, "potential": 11}]}) == {
        "ratings": {
            1: {"potential": ["Must be greater than or equal to 0 and less than or equal to 10."]}
        }
    }


def test_given_single_object_when_loading_batch_then_taken_as_batch_of_one():
    assert len(ResponseBatchIn().load(RESPONSE)["responses"]) == 1
    assert len(RatingBatchIn().load(RATING)["ratings"]) == 1


# Values of every kind these schemas meet, good and bad, for the equivalence properties.
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 12),
    st.floats(allow_nan=False),
    st.text(max_size=6),
    st.sampled_from(
        [
            "nps",
            " csat ",
            "",
            "  ",
            "A@Example.com",
            " a@b.de ",
            "a@b",
            "Example.COM",
            "2026-01-05T09:00:00Z",
            " 2026-01-05T09:00:00+01:00",
            "2026-01-05T09:00",
            "x" * 65,
            "İ@x.de",
        ]
    ),
    st.lists(st.integers(), max_size=2),
)


def _items(schema: type[Schema], base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    names = [*schema._declared_fields, "colour"]
    changes = st.dictionaries(st.sampled_from(names), VALUES, max_size=len(names))
    return st.tuples(st.booleans(), changes).map(
        lambda pair: {**base, **pair[1]} if pair[0] else pair[1]
    )


def _outcome(schema: Schema, data: Any, general: bool) -> tuple[Any, dict[Any, Any]]:
    store = ErrorStore()
    load = Schema._deserialize if general else type(schema)._deserialize
    loaded = load(schema, data, error_store=store)
    return loaded, store.errors


@settings(max_examples=300, deadline=None)
@given(st.one_of(_items(ResponseIn, RESPONSE), st.tuples(_items(RatingIn, RATING))))
def test_given_any_input_when_loading_then_field_loop_same_as_marshmallows(data: Any):
    if isinstance(data, tuple):
        schema: Schema = RatingIn()
        (data,) = data
    else:
        schema = ResponseIn()
    assert _outcome(schema, data, general=False) == _outcome(schema, data, general=True)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted({*ResponseIn._declared_fields, *RatingIn._declared_fields})),
       VALUES)  # fmt: skip
def test_given_any_value_when_validating_a_field_then_same_errors_as_marshmallows(
    name: str, value: Any
):
    schema = ResponseIn() if name in ResponseIn._declared_fields else RatingIn()
    field = schema.fields[name]

    def errors(validate: Any) -> list[str] | None:
        try:
            validate(value)
        except ValidationError as error:
            return list(error.messages)
        except TypeError:
            return ["TypeError"]
        return None

    assert errors(field._validate) == errors(lambda v: fields.Field._validate(field, v))


def _openapi(tmp_path: Path) -> dict[str, Any]:
    app = create_app(
        {
            "CX360_DATABASE_URL": f"sqlite:///{tmp_path / 'cx360.db'}",
            "CX360_INSTANCE_PATH": str(tmp_path / "instance"),
            "CX360_SECRET_KEY": "test-secret",
            "TESTING": True,
        }
    )
    spec: dict[str, Any] = app.test_client().get("/api/openapi.json").json
    return spec["components"]["schemas"]


def _described(properties: dict[str, Any]) -> dict[str, str]:
    shown = {}
    for name, prop in properties.items():
        keys = ("type", "format", "enum", "minLength", "maxLength", "pattern", "minimum",
                "maximum", "nullable", "default")  # fmt: skip
        shown[name] = " ".join(f"{key}={prop[key]}" for key in keys if key in prop)
    return shown


def test_given_app_when_fetching_openapi_then_input_fields_typed_with_their_limits(
    tmp_path: Path,
):
    schemas = _openapi(tmp_path)
    response, rating = schemas["ResponseIn"], schemas["RatingIn"]
    text = "type=string maxLength={} nullable=True default=None"
    assert _described(response["properties"]) == {
        "kind": "type=string enum=['nps', 'csat']",
        "score": "type=integer",
        "comment": text.format(10000),
        "email": "type=string format=email nullable=True default=None",
        "crm_id": text.format(64),
        "account_crm_id": text.format(64),
        "account_domain": "type=string pattern=^[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$ nullable=True "
        "default=None",
        "answered_at": "type=string format=date-time nullable=True default=None",
        "touchpoint": text.format(64),
        "channel": text.format(64),
        "source": "type=string minLength=1 maxLength=64 default=api",
        "external_id": "type=string minLength=1 maxLength=255 nullable=True default=None",
    }
    assert response["required"] == ["kind", "score"]
    assert response["additionalProperties"] is False
    assert _described(rating["properties"])["employee"] == "type=string minLength=1 maxLength=320"
    assert _described(rating["properties"])["relationship"] == "type=integer minimum=0 maximum=10"
    assert _described(rating["properties"])["rated_at"] == (
        "type=string format=date-time nullable=True default=None"
    )
    assert rating["required"] == ["employee", "potential", "relationship"]
    assert schemas["ResponseBatchIn"]["properties"]["responses"] == {
        "type": "array",
        "minItems": 1,
        "items": {"$ref": "#/components/schemas/ResponseIn"},
    }
