"""The relay kick after ingest: one scheduled relay per coalescing window, few Redis calls."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import redis
from flask import Flask

from connector.app import create_app
from connector.sync.kick import KICK_KEY, kick_relay
from tests.pipeline.conftest import REDIS_TEST_URL, redis_available


class RecordingCelery:
    """Stands in for the Celery app: records the tasks it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, float]] = []

    def send_task(self, name: str, countdown: float, retry: bool, kwargs: dict[str, Any]) -> None:
        assert kwargs == {"kicked": True}  # a kick's relay is not beat's (readiness)
        self.sent.append((name, countdown))


def app_recording_tasks(tmp_path: Path) -> tuple[Flask, RecordingCelery]:
    """An app on the test Redis with a 0.5 s window whose Celery only records what it sends."""
    app = create_app({
        "CX360_DATABASE_URL": f"sqlite:///{tmp_path / 'cx360.db'}",
        "CX360_INSTANCE_PATH": str(tmp_path / "instance"),
        "CX360_BROKER_URL": REDIS_TEST_URL,
        "CX360_COALESCE_SECONDS": "0.5",
    })  # fmt: skip
    celery = RecordingCelery()
    app.extensions["celery"] = celery
    return app, celery


def test_given_kicks_within_one_window_then_one_relay_and_redis_asked_once_per_window(
    tmp_path: Path,
):
    redis_available(REDIS_TEST_URL)
    server = redis.Redis.from_url(REDIS_TEST_URL)
    server.delete(KICK_KEY)
    app, celery = app_recording_tasks(tmp_path)
    calls: list[Any] = []
    with app.app_context():
        assert kick_relay() is True
        client = app.extensions["cx360.kick_redis"]
        original = client.pipeline
        client.pipeline = lambda **kw: calls.append(kw) or original(**kw)  # type: ignore[method-assign]
        assert [kick_relay() for _ in range(50)] == [False] * 50
        assert calls == [], "kicks inside the scheduled window must not ask Redis"
        assert celery.sent == [("cx360.relay_outbox", 0.5)]
        time.sleep(0.6)
        assert kick_relay() is True, "after the window a change needs a new relay"
        assert len(calls) == 1
    assert celery.sent == [("cx360.relay_outbox", 0.5)] * 2


def test_given_another_process_scheduled_the_relay_then_no_second_relay(tmp_path: Path):
    redis_available(REDIS_TEST_URL)
    server = redis.Redis.from_url(REDIS_TEST_URL)
    server.set(KICK_KEY, "1", px=400)  # another web process kicked just now
    app, celery = app_recording_tasks(tmp_path)
    with app.app_context():
        assert kick_relay() is False
        assert celery.sent == []
        time.sleep(0.45)  # the other process's relay has run: the next change needs its own
        assert kick_relay() is True
    assert celery.sent == [("cx360.relay_outbox", 0.5)]
