"""Signature schemes against the providers' published vectors and the spec's negatives."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.webhooks.signatures import (
    InvalidSignature,
    StaleTimestamp,
    parse_secrets,
    sign_delighted,
    sign_standard_webhook,
    sign_typeform,
    standard_webhook_key,
    verify_delighted,
    verify_standard_webhook,
    verify_typeform,
)

FIXTURES = Path(__file__).parent / "fixtures"
TYPEFORM_BODY = (FIXTURES / "typeform_signature_body.raw.json").read_bytes()
TYPEFORM_PUBLISHED = "sha256=VsvwNrh0fT5VWF+05H3azXZXJyFkhHTtONMxIVm6PZ4="
DELIGHTED_BODY = (FIXTURES / "delighted_signature_body.raw.json").read_bytes()
VECTORS: dict[str, Any] = json.loads((FIXTURES / "standard_webhooks_vectors.json").read_text())
SIGN_VECTORS = VECTORS["sign_vectors"]


def _at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


# --- Typeform -------------------------------------------------------------------------------


def test_given_published_typeform_vector_when_signing_then_header_matches():
    assert sign_typeform(TYPEFORM_BODY, "123456") == TYPEFORM_PUBLISHED


def test_given_published_typeform_vector_when_verifying_then_accepted():
    verify_typeform(TYPEFORM_BODY, TYPEFORM_PUBLISHED, ["123456"])


def test_given_rotated_secrets_when_verifying_typeform_then_either_secret_is_accepted():
    verify_typeform(TYPEFORM_BODY, TYPEFORM_PUBLISHED, ["new-secret", "123456"])
    verify_typeform(TYPEFORM_BODY, sign_typeform(TYPEFORM_BODY, "new-secret"), ["new-secret", "x"])


@pytest.mark.parametrize(
    ("body", "header", "secrets"),
    [
        pytest.param(TYPEFORM_BODY + b"\n", TYPEFORM_PUBLISHED, ["123456"], id="body-altered"),
        pytest.param(
            (FIXTURES / "typeform_form_response.json").read_bytes(),
            TYPEFORM_PUBLISHED,
            ["123456"],
            id="body-reserialised",
        ),
        pytest.param(TYPEFORM_BODY, TYPEFORM_PUBLISHED, ["654321"], id="other-secret"),
        pytest.param(
            TYPEFORM_BODY, TYPEFORM_PUBLISHED.removeprefix("sha256="), ["123456"], id="no-prefix"
        ),
        pytest.param(
            b'{"event_id":"LtWXD3crgy","event_type":"form_response"}',
            "sha256=7d0d137ff000554672d41764d62b39b5730b1f6225d908f7ea57b3197d9e37ab",
            ["abc123"],
            id="hex-instead-of-base64",
        ),
        pytest.param(TYPEFORM_BODY, None, ["123456"], id="missing-header"),
        pytest.param(TYPEFORM_BODY, "", ["123456"], id="empty-header"),
        pytest.param(TYPEFORM_BODY, "sha256=ü", ["123456"], id="non-ascii-header"),
        pytest.param(TYPEFORM_BODY, TYPEFORM_PUBLISHED, [], id="no-secret-configured"),
    ],
)
def test_given_bad_typeform_signature_when_verifying_then_rejected(
    body: bytes, header: str | None, secrets: list[str]
):
    with pytest.raises(InvalidSignature):
        verify_typeform(body, header, secrets)


def test_given_locally_computed_typeform_vector_when_signing_then_matches():
    body = b'{"event_id":"LtWXD3crgy","event_type":"form_response"}'
    assert sign_typeform(body, "abc123") == "sha256=fQ0Tf/AAVUZy1Bdk1is5tXMLH2Il2Qj36lezGX2eN6s="


# --- Delighted ------------------------------------------------------------------------------

DELIGHTED_KEY = "delighted-test-api-key"
DELIGHTED_EXPECTED = "sha256=5687e7bbf14d1d28897ca79fba93805979678e8fcc4486facd84f66ab2a94375"


def test_given_delighted_body_when_signing_then_hex_hmac_with_prefix():
    assert sign_delighted(DELIGHTED_BODY, DELIGHTED_KEY) == DELIGHTED_EXPECTED


@pytest.mark.parametrize(
    "header",
    [
        DELIGHTED_EXPECTED,
        DELIGHTED_EXPECTED.removeprefix("sha256="),
        DELIGHTED_EXPECTED.upper().replace("SHA256=", "sha256="),
    ],
    ids=["prefixed", "bare-hex", "upper-hex"],
)
def test_given_delighted_signature_forms_when_verifying_then_accepted(header: str):
    verify_delighted(DELIGHTED_BODY, header, ["old-key", DELIGHTED_KEY])


@pytest.mark.parametrize(
    ("body", "header", "secrets"),
    [
        pytest.param(DELIGHTED_BODY + b" ", DELIGHTED_EXPECTED, [DELIGHTED_KEY], id="altered"),
        pytest.param(DELIGHTED_BODY, DELIGHTED_EXPECTED, ["other-key"], id="other-key"),
        pytest.param(DELIGHTED_BODY, "sha1=" + "0" * 40, [DELIGHTED_KEY], id="other-scheme"),
        pytest.param(DELIGHTED_BODY, None, [DELIGHTED_KEY], id="missing-header"),
        pytest.param(DELIGHTED_BODY, DELIGHTED_EXPECTED, [], id="no-key-configured"),
    ],
)
def test_given_bad_delighted_signature_when_verifying_then_rejected(
    body: bytes, header: str | None, secrets: list[str]
):
    with pytest.raises(InvalidSignature):
        verify_delighted(body, header, secrets)


# --- Standard Webhooks ----------------------------------------------------------------------


def _headers(vector: dict[str, Any], signature: str | None = None) -> dict[str, str]:
    return {
        "webhook-id": vector["msg_id"],
        "webhook-timestamp": str(vector["timestamp"]),
        "webhook-signature": signature or vector["expected_signature"],
    }


@pytest.mark.parametrize("vector", SIGN_VECTORS, ids=[v["name"] for v in SIGN_VECTORS])
def test_given_spec_vector_when_signing_then_signature_matches(vector: dict[str, Any]):
    signature = sign_standard_webhook(
        vector["msg_id"], vector["timestamp"], vector["payload"].encode(), vector["secret"]
    )
    assert signature == vector["expected_signature"]


@pytest.mark.parametrize("vector", SIGN_VECTORS, ids=[v["name"] for v in SIGN_VECTORS])
def test_given_spec_vector_when_verifying_at_its_time_then_message_returned(
    vector: dict[str, Any],
):
    message = verify_standard_webhook(
        vector["payload"].encode(),
        _headers(vector),
        [vector["secret"]],
        now=_at(vector["timestamp"]) + timedelta(seconds=30),
    )
    assert (message.id, message.timestamp) == (vector["msg_id"], vector["timestamp"])


def test_given_secret_without_whsec_prefix_when_verifying_then_accepted():
    vector = SIGN_VECTORS[0]
    verify_standard_webhook(
        vector["payload"].encode(),
        _headers(vector),
        [vector["secret"].removeprefix("whsec_")],
        now=_at(vector["timestamp"]),
    )


def test_given_decoys_around_valid_entry_when_verifying_then_accepted():
    vector = SIGN_VECTORS[0]
    decoys = next(v for v in VECTORS["negative_vectors"] if "webhook_signature_entries" in v)
    first, second = decoys["webhook_signature_entries"]
    header = f"{first} {second} {vector['expected_signature']} {first}"
    verify_standard_webhook(
        vector["payload"].encode(),
        _headers(vector, header),
        [vector["secret"]],
        now=_at(vector["timestamp"]),
    )


def test_given_rotated_secrets_when_verifying_standard_webhook_then_old_secret_still_works():
    vector = SIGN_VECTORS[0]
    verify_standard_webhook(
        vector["payload"].encode(),
        _headers(vector),
        ["whsec_" + "bmV3LXNlY3JldC1ieXRlcw==", "not base64 !", vector["secret"]],
        now=_at(vector["timestamp"]),
    )


NEGATIVE_SIGNATURES = [
    v["webhook_signature"] for v in VECTORS["negative_vectors"] if "webhook_signature" in v
] + [
    "v1,",
    "v1",
    "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1O",
    "v1,ü",
]


@pytest.mark.parametrize("signature", NEGATIVE_SIGNATURES)
def test_given_spec_negative_signature_when_verifying_then_rejected(signature: str):
    vector = SIGN_VECTORS[0]
    with pytest.raises(InvalidSignature):
        verify_standard_webhook(
            vector["payload"].encode(),
            _headers(vector, signature),
            [vector["secret"]],
            now=_at(vector["timestamp"]),
        )


def test_given_rust_no_verify_vector_when_verifying_then_rejected():
    negative = next(v for v in VECTORS["negative_vectors"] if v["name"] == "rust test_no_verify")
    vector = SIGN_VECTORS[1]
    with pytest.raises(InvalidSignature):
        verify_standard_webhook(
            negative["payload"].encode(),
            _headers(vector, negative["webhook_signature"]),
            [negative["secret"]],
            now=_at(vector["timestamp"]),
        )


@pytest.mark.parametrize(
    "drop", ["webhook-id", "webhook-timestamp", "webhook-signature"], ids=lambda d: d
)
def test_given_missing_standard_header_when_verifying_then_rejected_naming_it(drop: str):
    vector = SIGN_VECTORS[0]
    headers = _headers(vector)
    del headers[drop]
    with pytest.raises(InvalidSignature, match=drop):
        verify_standard_webhook(
            vector["payload"].encode(), headers, [vector["secret"]], now=_at(vector["timestamp"])
        )


@pytest.mark.parametrize("timestamp", ["hello", "1614265330.5", "-1614265330"])
def test_given_non_integer_timestamp_when_verifying_then_rejected(timestamp: str):
    vector = SIGN_VECTORS[0]
    headers = _headers(vector) | {"webhook-timestamp": timestamp}
    with pytest.raises(InvalidSignature, match="integer"):
        verify_standard_webhook(
            vector["payload"].encode(), headers, [vector["secret"]], now=_at(vector["timestamp"])
        )


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-301, False), (-299, True), (0, True), (299, True), (301, False), (-3 * 3600, False)],
)
def test_given_clock_offset_when_verifying_then_five_minute_tolerance_applies(
    offset: int, accepted: bool
):
    vector = SIGN_VECTORS[0]
    now = _at(vector["timestamp"]) - timedelta(seconds=offset)

    def verify() -> None:
        verify_standard_webhook(
            vector["payload"].encode(), _headers(vector), [vector["secret"]], now=now
        )

    if accepted:
        verify()
    else:
        with pytest.raises(StaleTimestamp):
            verify()


def test_given_case_varied_header_names_when_verifying_then_found():
    vector = SIGN_VECTORS[0]
    headers = {k.title(): v for k, v in _headers(vector).items()}
    verify_standard_webhook(
        vector["payload"].encode(), headers, [vector["secret"]], now=_at(vector["timestamp"])
    )


@pytest.mark.parametrize("secret", ["whsec_", "", "whsec_***"])
def test_given_unusable_secret_when_decoding_then_value_error(secret: str):
    with pytest.raises(ValueError):
        standard_webhook_key(secret)


def test_given_only_unusable_secrets_when_verifying_then_rejected():
    vector = SIGN_VECTORS[0]
    with pytest.raises(InvalidSignature, match="secret"):
        verify_standard_webhook(
            vector["payload"].encode(), _headers(vector), ["whsec_"], now=_at(vector["timestamp"])
        )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", []), (None, []), ("a", ["a"]), (" a , b ,", ["a", "b"]), (["a", " ", "b"], ["a", "b"])],
)
def test_given_setting_value_when_parsing_secrets_then_blanks_dropped(
    value: str | list[str] | None, expected: list[str]
):
    assert parse_secrets(value) == expected
