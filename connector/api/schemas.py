"""Marshmallow schemas of the REST API: what comes in, what goes out.

Input schemas load into plain dicts with normalised values (emails trimmed and lower-cased,
timezone-aware datetimes); the ingest service stores exactly those dicts.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, has_app_context
from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

KINDS = ("nps", "csat")
SCOPES = ("ingest", "read", "admin")
_KEY = validate.Length(min=1, max=255)


def _csat_scale() -> int:
    return int(current_app.config.get("CX360_CSAT_SCALE", 5)) if has_app_context() else 5


def _max_batch() -> int:
    return int(current_app.config.get("CX360_MAX_BATCH", 1000)) if has_app_context() else 1000


def _strip_strings(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}
    return data


class _Input(Schema):
    class Meta:
        unknown = RAISE

    @pre_load
    def strip(self, data: Any, **_: Any) -> Any:
        return _strip_strings(data)

    @post_load
    def normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("email"):
            data["email"] = data["email"].lower()
        if data.get("account_domain"):
            data["account_domain"] = data["account_domain"].lower()
        # An empty key is no key (stored as "", a second one would break the unique index).
        for key in ("comment", "touchpoint", "channel", "crm_id", "account_crm_id",
                    "account_domain", "external_id"):  # fmt: skip
            if key in data and data[key] == "":
                data[key] = None
        return data

    def _require_person(self, data: dict[str, Any], *, account_allowed: bool) -> None:
        if data.get("email") or data.get("crm_id"):
            return
        if account_allowed and (data.get("account_crm_id") or data.get("account_domain")):
            return
        keys = (
            "email, crm_id, account_crm_id or account_domain"
            if account_allowed
            else ("email or crm_id")
        )
        raise ValidationError(f"Give {keys}.", field_name="email")


class ResponseIn(_Input):
    """One survey response (NPS or CSAT).

    ``csat_scale``: the highest CSAT rating; default CX360_CSAT_SCALE of the current app (the
    CLI, which runs without one, passes the configured value).
    """

    def __init__(self, *args: Any, csat_scale: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.csat_scale = csat_scale

    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    score = fields.Integer(required=True, strict=True)
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=10000))
    email = fields.Email(load_default=None, allow_none=True)
    crm_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    account_crm_id = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=64)
    )
    account_domain = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$", error="Not a domain name."),
    )
    answered_at = fields.AwareDateTime(
        load_default=None, allow_none=True, metadata={"description": "ISO 8601 with timezone"}
    )
    touchpoint = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    channel = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    source = fields.String(load_default="api", validate=validate.Length(min=1, max=64))
    external_id = fields.String(load_default=None, allow_none=True, validate=_KEY)

    @validates_schema
    def check(self, data: dict[str, Any], **_: Any) -> None:
        self._require_person(data, account_allowed=False)
        kind, score = data.get("kind"), data.get("score")
        if kind is None or score is None:
            return
        low, high = (0, 10) if kind == "nps" else (1, self.csat_scale or _csat_scale())
        if not low <= score <= high:
            raise ValidationError(
                f"Must be between {low} and {high} for kind {kind}.", field_name="score"
            )


class ResponseBatchIn(Schema):
    """``{"responses": [...]}``; a single response object is accepted as well."""

    class Meta:
        unknown = RAISE

    responses = fields.List(fields.Nested(ResponseIn), required=True,
                validate=validate.Length(min=1))  # fmt: skip

    @pre_load
    def wrap_single(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and "responses" not in data:
            return {"responses": [data]}
        return data

    @validates_schema
    def check_size(self, data: dict[str, Any], **_: Any) -> None:
        count, limit = len(data.get("responses", [])), _max_batch()
        if count == 0:
            raise ValidationError("Give at least one response.", field_name="responses")
        if count > limit:
            raise ValidationError(
                f"At most {limit} responses per request (got {count}).", field_name="responses"
            )


class RatingIn(_Input):
    """An employee's rating of a customer contact (or of an account)."""

    employee = fields.String(required=True, validate=validate.Length(min=1, max=320))
    email = fields.Email(load_default=None, allow_none=True)
    crm_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    account_crm_id = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=64)
    )
    account_domain = ResponseIn._declared_fields["account_domain"]
    relationship = fields.Integer(required=True, strict=True, validate=validate.Range(0, 10))
    potential = fields.Integer(required=True, strict=True, validate=validate.Range(0, 10))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=10000))
    rated_at = fields.AwareDateTime(load_default=None, allow_none=True)
    source = fields.String(load_default="api", validate=validate.Length(min=1, max=64))
    external_id = fields.String(load_default=None, allow_none=True, validate=_KEY)

    @post_load
    def employee_lower(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["employee"] = data["employee"].lower()
        return data

    @validates_schema
    def check(self, data: dict[str, Any], **_: Any) -> None:
        self._require_person(data, account_allowed=True)


class RatingBatchIn(Schema):
    class Meta:
        unknown = RAISE

    ratings = fields.List(fields.Nested(RatingIn), required=True,
              validate=validate.Length(min=1))  # fmt: skip

    @pre_load
    def wrap_single(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and "ratings" not in data:
            return {"ratings": [data]}
        return data

    @validates_schema
    def check_size(self, data: dict[str, Any], **_: Any) -> None:
        count, limit = len(data.get("ratings", [])), _max_batch()
        if count == 0:
            raise ValidationError("Give at least one rating.", field_name="ratings")
        if count > limit:
            raise ValidationError(
                f"At most {limit} ratings per request (got {count}).", field_name="ratings"
            )


class IngestResultOut(Schema):
    created = fields.Integer(metadata={"description": "New items stored"})
    updated = fields.Integer(metadata={"description": "Resends that changed a stored item"})
    unchanged = fields.Integer(metadata={"description": "Resends identical to the stored item"})
    ids = fields.List(fields.Integer(), metadata={"description": "Stored ids in input order"})


class ScorecardOut(Schema):
    class Meta:
        unknown = EXCLUDE

    subject = fields.String(metadata={"description": "contact or account"})
    key = fields.String(metadata={"description": "The key asked for"})
    email = fields.String(allow_none=True)
    domain = fields.String(allow_none=True)
    crm_id = fields.String(allow_none=True)
    computed_at = fields.AwareDateTime(allow_none=True)
    metrics = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(allow_none=True),
        metadata={"description": "Flat metric keys (nps.score, ...) to values; null = no data"},
    )


class NpsStatsQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    from_ = fields.AwareDateTime(data_key="from", load_default=None, allow_none=True)
    to = fields.AwareDateTime(load_default=None, allow_none=True)
    interval = fields.String(load_default="week", validate=validate.OneOf(("day", "week", "month")))
    account = fields.String(load_default=None, allow_none=True)
    touchpoint = fields.String(load_default=None, allow_none=True)


class NpsBucketOut(Schema):
    start = fields.AwareDateTime()
    end = fields.AwareDateTime()
    n = fields.Integer()
    promoters = fields.Integer()
    passives = fields.Integer()
    detractors = fields.Integer()
    nps = fields.Float(allow_none=True)
    moe = fields.Float(allow_none=True)


class NpsStatsOut(Schema):
    interval = fields.String()
    window = fields.Nested(NpsBucketOut, metadata={"description": "The whole range at once"})
    buckets = fields.List(fields.Nested(NpsBucketOut))


class ErrorOut(Schema):
    code = fields.Integer(metadata={"description": "HTTP status code"})
    status = fields.String(metadata={"description": "HTTP status name"})
    message = fields.String()
    errors = fields.Dict(metadata={"description": "Per location, item index and field"})
