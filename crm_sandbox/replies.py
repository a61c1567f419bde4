"""The small reply value every sandbox handler returns, turned into a WSGI response by the app."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

JSON_TYPE = "application/json;charset=UTF-8"


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-able value, or ``bytes``/``str`` sent as is
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE

    def payload(self) -> bytes:
        if self.status == 204 or self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class HttpError(Exception):
    """Raised inside a handler to answer with ``reply`` at once."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def correlation_id() -> str:
    return str(uuid.uuid4())
