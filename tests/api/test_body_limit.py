"""Bodies over CX360_MAX_BODY_BYTES answer 413 whatever the transfer encoding (issue 18 #1).

Over real HTTP (Werkzeug's server, which like gunicorn hands a chunked body to the app without
a length) through ``requests``: a generator body is sent with ``Transfer-Encoding: chunked``,
a bytes body with ``Content-Length``. The webhook signatures are correct for the whole body,
so a reply other than 413 means the app read a part of it.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from werkzeug.exceptions import RequestEntityTooLarge

from connector.api.bodies import read_limited
from connector.demo import served
from connector.storage import Response, WebhookDelivery
from connector.webhooks.signatures import sign_delighted, sign_standard_webhook, sign_typeform
from tests.conftest import count_rows

LIMIT = 1024 * 1024
FIXTURES = Path(__file__).parents[1] / "webhooks" / "fixtures"
TYPEFORM_BODY = (FIXTURES / "typeform_signature_body.raw.json").read_bytes()
TYPEFORM_SECRET = "123456"
DELIGHTED_KEY = "delighted-test-api-key"
WHSEC = "whsec_" + base64.b64encode(b"cx360-generic-webhook-test-key!!").decode()
NPS = {"kind": "nps", "score": 9, "email": "anna@example.com", "external_id": "big-1"}


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    app.config.update(
        CX360_TYPEFORM_SECRETS=TYPEFORM_SECRET,
        CX360_DELIGHTED_SECRETS=DELIGHTED_KEY,
        CX360_WEBHOOK_SECRETS=WHSEC,
        CX360_TYPEFORM_SCORE_REF="readable_ref_opinion_scale",
        CX360_TYPEFORM_COMMENT_REF="readable_ref_long_text",
        CX360_TYPEFORM_KIND="csat",
    )
    with served(app) as url:
        yield url


def chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """A generator body: requests sends it chunked, without Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def send(url: str, body: bytes, headers: dict[str, str], *, chunked: bool) -> requests.Response:
    data: Any = chunks(body) if chunked else body
    reply = requests.post(
        url, data=data, headers={"Content-Type": "application/json", **headers}, timeout=60
    )
    if chunked:
        assert reply.request.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in reply.request.headers
    return reply


def padded(payload: bytes, size: int) -> bytes:
    """``payload`` followed by blanks up to ``size`` bytes: still the same valid JSON."""
    return payload + b" " * (size - len(payload))


def assert_413(reply: requests.Response) -> None:
    assert reply.status_code == 413, reply.text
    body = reply.json()
    assert body["code"] == 413 and "CX360_MAX_BODY_BYTES" in body["message"]


def typeform_headers(body: bytes) -> dict[str, str]:
    return {"Typeform-Signature": sign_typeform(body, TYPEFORM_SECRET)}


def delighted_headers(body: bytes) -> dict[str, str]:
    return {"X-Delighted-Webhook-Signature": sign_delighted(body, DELIGHTED_KEY)}


def generic_headers(body: bytes) -> dict[str, str]:
    timestamp = int(datetime.now(UTC).timestamp())
    return {
        "webhook-id": "msg_big",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_standard_webhook("msg_big", timestamp, body, WHSEC),
    }


WEBHOOKS = [
    ("typeform", typeform_headers),
    ("delighted", delighted_headers),
    ("generic", generic_headers),
]


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
@pytest.mark.parametrize(("provider", "sign"), WEBHOOKS, ids=[p for p, _ in WEBHOOKS])
def test_given_signed_webhook_over_the_limit_when_posted_then_413_and_nothing_stored(
    app: Flask, server: str, provider: str, sign: Any, chunked: bool
):
    body = padded(TYPEFORM_BODY, 5_247_608)
    reply = send(f"{server}/webhooks/{provider}", body, sign(body), chunked=chunked)
    assert_413(reply)
    assert count_rows(app, WebhookDelivery) == 0 and count_rows(app, Response) == 0


def test_given_signed_chunked_typeform_under_the_limit_when_posted_then_signature_over_whole_body(
    app: Flask, server: str
):
    body = padded(TYPEFORM_BODY, LIMIT)  # exactly the limit: still whole
    reply = send(f"{server}/webhooks/typeform", body, typeform_headers(body), chunked=True)
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "stored"
    assert count_rows(app, Response) == 1


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_given_valid_json_followed_by_blanks_over_the_limit_when_posted_then_413(
    app: Flask, server: str, ingest_headers: dict[str, str], chunked: bool
):
    body = padded(json.dumps(NPS).encode(), 3 * LIMIT)
    reply = send(f"{server}/api/v1/responses", body, ingest_headers, chunked=chunked)
    assert_413(reply)
    assert count_rows(app, Response) == 0


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_given_batch_over_the_limit_when_posted_then_413_not_invalid_json(
    app: Flask, server: str, ingest_headers: dict[str, str], chunked: bool
):
    items = [{**NPS, "external_id": f"b-{i}", "comment": "x" * 4000} for i in range(1000)]
    body = json.dumps({"responses": items}).encode()
    assert len(body) > 4_000_000
    reply = send(f"{server}/api/v1/responses", body, ingest_headers, chunked=chunked)
    assert_413(reply)
    assert count_rows(app, Response) == 0


def test_given_chunked_body_one_byte_over_the_limit_when_posted_then_413(
    app: Flask, server: str, ingest_headers: dict[str, str]
):
    body = padded(json.dumps(NPS).encode(), LIMIT + 1)
    assert_413(send(f"{server}/api/v1/responses", body, ingest_headers, chunked=True))
    body = padded(json.dumps(NPS).encode(), LIMIT)
    reply = send(f"{server}/api/v1/responses", body, ingest_headers, chunked=True)
    assert reply.status_code == 200, reply.text
    assert count_rows(app, Response) == 1


class TrickleStream(io.RawIOBase):
    """A socket-like stream: every read returns at most 7 bytes, however many are asked for."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = 7 if size < 0 else min(size, 7)
        chunk, self.data = bytes(self.data[:size]), self.data[size:]
        return chunk


@pytest.mark.parametrize("size", [0, 1, 99, 100])
def test_given_short_reads_up_to_the_limit_when_reading_then_whole_body(size: int):
    body = bytes(range(size))
    assert read_limited(TrickleStream(body), 100) == body


def test_given_short_reads_past_the_limit_when_reading_then_413_and_rest_drained():
    stream = TrickleStream(b"x" * 1000)
    with pytest.raises(RequestEntityTooLarge):
        read_limited(stream, 100)
    assert stream.read() == b""  # drained (within DRAIN_FACTOR times the limit)
