"""Request bodies are read whole or refused: 413 past ``CX360_MAX_BODY_BYTES``, however sent.

Werkzeug checks a ``Content-Length`` against ``MAX_CONTENT_LENGTH``, but a chunked body has
none: its reader then stops silently at the limit, so a webhook's signature was checked over
the first MiB and a JSON body was parsed from a truncated prefix. Here every request body is
read once, before any view, at most limit + 1 bytes: one byte more than allowed is a 413, and
whatever a view reads afterwards (``get_data``, ``get_json``, ``form``) is the whole body.

After a 413 the rest of the body is read and dropped (bounded by ``DRAIN_FACTOR`` times the
limit): a server that closes a connection with unread data makes the client's TCP stack
reset it, and the sender would see a broken pipe instead of the 413.
"""

from __future__ import annotations

import io
from typing import IO

from flask import Blueprint, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.wsgi import get_input_stream

body_limit_blp = Blueprint("body_limit", __name__)
READ_SIZE = 64 * 1024
DRAIN_FACTOR = 16


def _sends_body() -> bool:
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    return chunked or bool(request.content_length)


def _drain(stream: IO[bytes], at_most: int) -> None:
    while at_most > 0 and (chunk := stream.read(min(READ_SIZE, at_most))):
        at_most -= len(chunk)


def _too_large(limit: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(
        f"The body is larger than {limit:,} bytes (CX360_MAX_BODY_BYTES); nothing was stored."
    )


def read_limited(stream: IO[bytes], limit: int) -> bytes:
    """At most ``limit`` bytes of ``stream``, all of it; past that :class:`RequestEntityTooLarge`.

    Reads until the stream ends or holds one byte more than the limit (a read may return
    fewer bytes than asked for, as a socket's does).
    """
    parts: list[bytes] = []
    size = 0
    while size <= limit and (chunk := stream.read(min(READ_SIZE, limit + 1 - size))):
        parts.append(chunk)
        size += len(chunk)
    if size > limit:
        _drain(stream, DRAIN_FACTOR * limit)
        raise _too_large(limit)
    return b"".join(parts)


@body_limit_blp.before_app_request
def read_whole_body() -> None:
    """Read the request's body now, whole, so that no view ever sees a part of it."""
    limit = request.max_content_length
    if limit is None or not _sends_body():
        return
    # Werkzeug's own limit is left out here: it raises before the body is drained.
    stream = get_input_stream(request.environ, max_content_length=None)
    if request.content_length is not None and request.content_length > limit:
        if request.content_length <= DRAIN_FACTOR * limit:
            _drain(stream, request.content_length)
        raise _too_large(limit)
    # werkzeug's cached_property takes an assigned value: every later read sees this body
    request.stream = io.BytesIO(read_limited(stream, limit))


def require_json_body() -> None:
    """415 for a body sent without ``Content-Type: application/json``: it would otherwise be
    read as no body at all, and every required field reported missing."""
    if request.method in ("POST", "PUT", "PATCH") and not request.is_json:
        sent = request.headers.get("Content-Type")
        raise UnsupportedMediaType(
            "Send the body as JSON with Content-Type: application/json "
            + (f"(got {sent!r})." if sent else "(the request has no Content-Type).")
        )
