"""Marshmallow schemas of the REST API: what comes in, what goes out.

Input schemas load into plain dicts with normalised values (emails trimmed and lower-cased,
timezone-aware datetimes); the ingest service stores exactly those dicts.

Every response of a batch and every row of an import goes through ``ResponseIn`` or
``RatingIn``, so their loading is kept cheap (issue 8): the fields normalise values themselves
(no schema-wide pre/post-load passes) and ``_Input`` runs marshmallow's field loop without
its per-field helpers. The rules stay where marshmallow and the OpenAPI document read them:
in the fields and their validators.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import current_app, has_app_context
from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates_schema,
)
from marshmallow.error_store import ErrorStore
from marshmallow.types import UnknownOption
from marshmallow.utils import missing

KINDS = ("nps", "csat")
SCOPES = ("ingest", "read", "admin")
_KIND = validate.OneOf(KINDS)
_KEY = validate.Length(min=1, max=255)
_SOURCE = validate.Length(min=1, max=64)
_ID = validate.Length(max=64)
_COMMENT = validate.Length(max=10000)
_EMPLOYEE = validate.Length(min=1, max=320)
_RATING = validate.Range(0, 10)
_DOMAIN = validate.Regexp(r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$", error="Not a domain name.")


def _csat_scale() -> int:
    return int(current_app.config.get("CX360_CSAT_SCALE", 5)) if has_app_context() else 5


def _max_batch() -> int:
    return int(current_app.config.get("CX360_MAX_BATCH", 1000)) if has_app_context() else 1000


def _none_if_empty(value: str) -> str | None:
    # An empty text is no text, and an empty key no key (stored as "", a second one would
    # break the unique index).
    return value or None


class _OneValidatorField(fields.Field):
    """Calls its one validator directly.

    marshmallow composes a field's validators into a new ``validate.And`` for every value,
    which costs more than the check itself; every input field here has one validator at most.
    """

    def _validate(self, value: Any) -> None:
        if len(self.validators) == 1:
            self.validators[0](value)
        elif self.validators:
            super()._validate(value)


class Text(_OneValidatorField, fields.String):
    """A string without the blanks around it (copied from a form or a spreadsheet)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, str):
            return value.strip()
        return super()._deserialize(value, attr, data, **kwargs)


class EmailAddress(Text, fields.Email):
    """An email address, trimmed; lower-cased once valid."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(load_default=None, allow_none=True, post_load=str.lower, **kwargs)


class Timestamp(_OneValidatorField, fields.AwareDateTime):
    """An ISO 8601 date and time with a timezone (surrounding blanks ignored)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
        return super()._deserialize(value, attr, data, **kwargs)


class StrictInteger(_OneValidatorField, fields.Integer):
    """An integer and nothing else: no numeric strings, no fractions, no booleans."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if type(value) is int:  # the common case, already what marshmallow would return
            return value
        return super()._deserialize(value, attr, data, **kwargs)


def _optional_text(rule: validate.Validator) -> Text:
    return Text(load_default=None, allow_none=True, validate=rule, post_load=_none_if_empty)


def _account_domain() -> Text:
    return Text(load_default=None, allow_none=True, validate=_DOMAIN, post_load=str.lower)


def _source() -> Text:
    return Text(load_default="api", validate=_SOURCE)


class _Input(Schema):
    """An input item: unknown fields are an error; loading takes the lean loop below."""

    class Meta:
        unknown = RAISE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (input key, output key, field, default) of every loaded field, and all input keys.
        # default: what an absent key loads as, for an optional field with a constant
        # load_default; ``missing`` means ask the field (required, or a computed default).
        self._plan = tuple(
            (
                field.data_key or name,
                field.attribute or name,
                field,
                missing if field.required or callable(field.load_default) else field.load_default,
            )
            for name, field in self.load_fields.items()
        )
        self._keys = frozenset(key for key, *_ in self._plan)

    def _deserialize(
        self,
        data: Any,
        *,
        error_store: ErrorStore,
        many: bool = False,
        partial: Any = None,
        unknown: UnknownOption = RAISE,
        index: int | None = None,
    ) -> Any:
        """marshmallow's own field loop minus its per-field closure and helper calls.

        Each field still loads and validates its value (``Field.deserialize``); errors are
        stored as marshmallow stores them. One mapping loaded without ``partial`` and with
        unknown fields an error is every load of these schemas (none has a dotted attribute);
        anything else takes marshmallow's general path. tests/api/test_schemas.py checks that
        both give the same.
        """
        if many or partial or unknown != RAISE or not isinstance(data, Mapping):
            return super()._deserialize(data, error_store=error_store, many=many,
                                        partial=partial, unknown=unknown, index=index)  # fmt: skip
        index = index if self.opts.index_errors else None
        loaded: dict[str, Any] = {}
        given = 0  # keys of data that are fields; any other key is unknown
        for key, name, field, default in self._plan:
            value = data.get(key, missing)
            if value is missing and default is not missing:
                loaded[name] = default
                continue
            given += value is not missing
            try:
                value = field.deserialize(value, key, data)
            except ValidationError as error:
                error_store.store_error(error.messages, key, index=index)
                continue
            if value is not missing:
                loaded[name] = value
        if given < len(data):
            for key in data.keys() - self._keys:
                error_store.store_error([self.error_messages["unknown"]], key, index)
        return loaded

    def _require_person(
        self, data: dict[str, Any], original: Any, *, account_allowed: bool
    ) -> None:
        if data.get("email") or data.get("crm_id"):  # the common case first: loads are hot
            return
        keys: tuple[str, ...] = ("email", "crm_id")
        if account_allowed:
            if data.get("account_crm_id") or data.get("account_domain"):
                return
            keys += ("account_crm_id", "account_domain")
        # A key given but invalid is absent from data; its own error says what is wrong.
        if isinstance(original, Mapping) and any(
            key not in data and original.get(key) for key in keys
        ):
            return
        named = (
            "email, crm_id, account_crm_id or account_domain"
            if account_allowed
            else ("email or crm_id")
        )
        raise ValidationError(f"Give {named}.", field_name="email")


class ResponseIn(_Input):
    """One survey response (NPS or CSAT).

    ``csat_scale``: the highest CSAT rating; default CX360_CSAT_SCALE of the current app (the
    CLI, which runs without one, passes the configured value).
    """

    def __init__(self, *args: Any, csat_scale: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.csat_scale = csat_scale

    kind = Text(required=True, validate=_KIND)
    score = StrictInteger(required=True)
    comment = _optional_text(_COMMENT)
    email = EmailAddress()
    crm_id = _optional_text(_ID)
    account_crm_id = _optional_text(_ID)
    account_domain = _account_domain()
    answered_at = Timestamp(
        load_default=None, allow_none=True, metadata={"description": "ISO 8601 with timezone"}
    )
    touchpoint = _optional_text(_ID)
    channel = _optional_text(_ID)
    source = _source()
    external_id = _optional_text(_KEY)

    # Run despite field errors: a score out of its kind's range is reported beside a bad
    # email, not found by the next request.
    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def check(self, data: dict[str, Any], original: Any, **_: Any) -> None:
        self._require_person(data, original, account_allowed=False)
        kind, score = data.get("kind"), data.get("score")
        if kind is None or score is None:
            return
        low, high = (0, 10) if kind == "nps" else (1, self.csat_scale or _csat_scale())
        if not low <= score <= high:
            raise ValidationError(
                f"Must be between {low} and {high} for kind {kind}.", field_name="score"
            )


class _BatchIn(Schema):
    """``{"<items>": [...]}``, or a single item object; ``items_key`` names the list field.

    A single object's errors are reported as its own (``{"score": [...]}``), without the
    batch's key and index the sender never wrote.
    """

    items_key: str
    item_name: str

    class Meta:
        unknown = RAISE

    @pre_load
    def wrap_single(self, data: Any, **_: Any) -> Any:
        if self._single(data):
            return {self.items_key: [data]}
        return data

    def _single(self, data: Any) -> bool:
        return isinstance(data, dict) and self.items_key not in data

    @validates_schema
    def check_size(self, data: dict[str, Any], **_: Any) -> None:
        count, limit = len(data.get(self.items_key, [])), _max_batch()
        if count == 0:
            raise ValidationError(f"Give at least one {self.item_name}.", field_name=self.items_key)
        if count > limit:
            raise ValidationError(
                f"At most {limit} {self.items_key} per request (got {count}).",
                field_name=self.items_key,
            )

    def handle_error(self, error: ValidationError, data: Any, *, many: bool, **_: Any) -> None:
        messages = error.messages
        item = messages.get(self.items_key) if isinstance(messages, Mapping) else None
        if self._single(data) and isinstance(item, Mapping) and list(item) == [0]:
            raise ValidationError(item[0], data=data) from error


class ResponseBatchIn(_BatchIn):
    """``{"responses": [...]}``; a single response object is accepted as well."""

    items_key, item_name = "responses", "response"
    responses = fields.List(fields.Nested(ResponseIn), required=True,
                validate=validate.Length(min=1))  # fmt: skip


class RatingIn(_Input):
    """An employee's rating of a customer contact (or of an account)."""

    employee = Text(required=True, validate=_EMPLOYEE, post_load=str.lower)
    email = EmailAddress()
    crm_id = _optional_text(_ID)
    account_crm_id = _optional_text(_ID)
    account_domain = _account_domain()
    relationship = StrictInteger(required=True, validate=_RATING)
    potential = StrictInteger(required=True, validate=_RATING)
    comment = _optional_text(_COMMENT)
    rated_at = Timestamp(load_default=None, allow_none=True)
    source = _source()
    external_id = _optional_text(_KEY)

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def check(self, data: dict[str, Any], original: Any, **_: Any) -> None:
        self._require_person(data, original, account_allowed=True)


class RatingBatchIn(_BatchIn):
    """``{"ratings": [...]}``; a single rating object is accepted as well."""

    items_key, item_name = "ratings", "rating"
    ratings = fields.List(fields.Nested(RatingIn), required=True,
              validate=validate.Length(min=1))  # fmt: skip


def load_each(schema: Schema, items: Sequence[Any]) -> list[dict[str, Any]]:
    """Load every item with its own error store; raise one error naming each bad item.

    ``many=True`` would share one store, and marshmallow then skips the schema-level checks
    of every item (a missing person key, a score out of its kind's range) as soon as any one
    item has a field error: a sender fixing what the reply names would find more next time.
    """
    loaded: list[dict[str, Any]] = []
    errors: dict[int, Any] = {}
    for index, item in enumerate(items):
        try:
            loaded.append(schema.load(item))
        except ValidationError as error:
            errors[index] = error.messages
    if errors:
        raise ValidationError(errors)
    return loaded


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
    revenue = fields.Nested(
        lambda: AccountRevenueOut(),
        allow_none=True,
        metadata={"description": "Accounts: the revenue reading behind revenue.*; null if none"},
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


class RevenueStatsQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    account = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "One account (domain or CRM id); default: all accounts"},
    )


class RevenuePortfolioOut(Schema):
    currency = fields.String(metadata={"description": "ISO 4217 code; figures never mix codes"})
    accounts = fields.Integer(metadata={"description": "Accounts with revenue in this currency"})
    revenue = fields.Float(metadata={"description": "All their revenue in the window"})
    revenue_with_feedback = fields.Float(
        metadata={"description": "Revenue of accounts with an NPS answer in the window"}
    )
    revenue_at_risk = fields.Float(metadata={"description": "Revenue of at_risk accounts"})
    revenue_without_signal = fields.Float(metadata={"description": "Revenue of no_signal accounts"})
    weighted_nps = fields.Float(
        allow_none=True,
        metadata={"description": "Σ R·NPS / Σ R over accounts with feedback (-100..100)"},
    )
    coverage_pct = fields.Float(
        allow_none=True,
        metadata={"description": "100 · revenue with feedback / all revenue (0..100)"},
    )
    at_risk = fields.Integer()
    safe = fields.Integer()
    no_signal = fields.Integer()


class RevenueAccountOut(Schema):
    domain = fields.String(allow_none=True)
    crm_id = fields.String(allow_none=True)
    name = fields.String()
    amount = fields.Float(allow_none=True)
    currency = fields.String(allow_none=True)
    status = fields.String(allow_none=True, metadata={"description": "at_risk, safe or no_signal"})
    nps = fields.Float(allow_none=True, metadata={"description": "Account NPS, one decimal"})


class RevenueStatsOut(Schema):
    window_days = fields.Integer(metadata={"description": "CX360_WINDOW_DAYS"})
    portfolios = fields.List(
        fields.Nested(RevenuePortfolioOut), metadata={"description": "One per currency"}
    )
    unknown_currency = fields.Integer(
        metadata={"description": "Accounts left out: revenue without a currency code"}
    )
    unknown_amount = fields.Integer(
        metadata={"description": "Accounts left out: the CRM gave no single-currency sum"}
    )
    without_signal = fields.List(
        fields.Nested(RevenueAccountOut),
        metadata={"description": "no_signal accounts, largest revenue first"},
    )


class RevenueRefreshOut(Schema):
    queued = fields.Boolean(metadata={"description": "The refresh is queued for a worker"})


class AccountRevenueOut(Schema):
    amount = fields.Float(allow_none=True)
    currency = fields.String(allow_none=True)
    deals = fields.Integer(metadata={"description": "Closed-won deals in the window"})
    note = fields.String(allow_none=True, metadata={"description": "Why amount is null, if"})
    read_at = fields.AwareDateTime(metadata={"description": "When cx360 read it from the CRM"})


class ErrorOut(Schema):
    code = fields.Integer(metadata={"description": "HTTP status code"})
    status = fields.String(metadata={"description": "HTTP status name"})
    message = fields.String()
    errors = fields.Dict(metadata={"description": "Per location, item index and field"})
