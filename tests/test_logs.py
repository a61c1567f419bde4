"""Log lines a platform engineer can search (issue 17): CX360_LOG_FORMAT=text|json, the request
id (X-Request-ID) on every line of a request and on its response, and a clear error for an
unknown format. The worker's lines, with a real worker, are in tests/pipeline/test_logs.py."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from connector import logs
from connector.cli import main
from tests.conftest import make_test_app


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """What cx360's JSON handler writes, for the duration of a test."""
    stream = io.StringIO()
    handler = logs.handler("json")
    handler.setStream(stream)  # type: ignore[attr-defined]
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def logging_app(tmp_path: Path) -> Iterator[Flask]:
    for app in make_test_app(f"sqlite:///{tmp_path / 'cx360.db'}", tmp_path):

        @app.get("/__logs_test")
        def logs_test() -> str:
            logging.getLogger("cx360.test").warning("inside the request")
            return "ok"

        yield app


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_given_request_id_sent_when_request_logs_then_line_and_response_carry_it(
    logging_app: Flask, captured: io.StringIO
):
    reply = logging_app.test_client().get("/__logs_test", headers={"X-Request-ID": "lb-7f3a.9"})

    assert reply.headers["X-Request-ID"] == "lb-7f3a.9"
    line = next(r for r in _lines(captured) if r["message"] == "inside the request")
    assert line["request_id"] == "lb-7f3a.9"
    assert line["level"] == "WARNING" and line["logger"] == "cx360.test"
    assert {"time", "process"} <= line.keys()
    assert "task_id" not in line and "sync_run_id" not in line  # unknown here: left out


@pytest.mark.parametrize("sent", [None, "", "two words", "x" * 200, "<script>"])
def test_given_no_or_unusable_request_id_when_requesting_then_a_new_one_is_made(
    logging_app: Flask, captured: io.StringIO, sent: str | None
):
    headers = {} if sent is None else {"X-Request-ID": sent}
    client = logging_app.test_client()

    first = client.get("/__logs_test", headers=headers).headers["X-Request-ID"]
    second = client.get("/__logs_test", headers=headers).headers["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second
    ids = [r["request_id"] for r in _lines(captured) if r["message"] == "inside the request"]
    assert ids == [first, second]


def test_given_error_reply_when_refused_then_it_still_names_its_request_id(logging_app: Flask):
    reply = logging_app.test_client().get("/api/v1/syncs", headers={"X-Request-ID": "req-401"})
    assert reply.status_code == 401
    assert reply.headers["X-Request-ID"] == "req-401"


def test_given_line_outside_any_request_then_no_request_id(captured: io.StringIO):
    logging.getLogger("cx360.test").info("between requests")
    assert "request_id" not in _lines(captured)[-1]


def test_given_text_format_then_celery_layout_with_known_ids_at_the_end():
    record = logging.LogRecord("cx360", logging.INFO, __file__, 1, "pushed %d", (3,), None)
    logs.LogContext().filter(record)
    record.sync_run_id = 42
    line = logs.formatter("text").format(record)
    assert re.fullmatch(r"\[\d{4}-\d\d-\d\d [\d:,]+: INFO/MainProcess\] cx360: pushed 3 "
                        r"\[sync_run_id=42\]", line), line  # fmt: skip


def test_given_unknown_log_format_when_running_a_command_then_one_line_names_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CX360_LOG_FORMAT", "xml")
    result = CliRunner().invoke(main, ["db", "current"])
    assert result.exit_code != 0
    assert "CX360_LOG_FORMAT='xml': expected text or json" in result.output
    assert "Traceback" not in result.output


@pytest.mark.integration
def test_given_json_logs_when_serving_then_gunicorn_lines_are_json_and_access_line_names_request(
    tmp_path: Path,
):
    import os
    import signal
    import subprocess
    import sys

    import requests

    from tests.reliability.harness import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CX360_", "HUBSPOT_", "SALESFORCE_"))}  # fmt: skip
    env.update(PYTHONUNBUFFERED="1", CX360_LOG_FORMAT="json")
    server = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "serve", "--port", str(port), "--workers", "1"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        lines = []
        for line in server.stdout:  # readiness is a line, not a sleep
            lines.append(line)
            if "Booting worker" in line:
                break
        reply = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=30,
                             headers={"X-Request-ID": "probe-42"})  # fmt: skip
        assert reply.headers["X-Request-ID"] == "probe-42"
        for line in server.stdout:
            lines.append(line)
            if "/healthz" in line:
                break
    finally:
        server.send_signal(signal.SIGINT)
        rest, _ = server.communicate(timeout=60)
    output = [line for line in "".join(lines).splitlines() + rest.splitlines() if line.strip()]
    json_lines = [line for line in output if line.startswith("{")]
    records = [json.loads(line) for line in json_lines]
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["message"]
               for r in records), output  # fmt: skip
    access = [r for r in records if r["logger"] == "gunicorn.access"]
    assert len(access) == 1 and "GET /healthz" in access[0]["message"], output
    assert "request_id=probe-42" in access[0]["message"]
    assert any(f"cx360 API on http://127.0.0.1:{port}" in r["message"] for r in records)
    assert [line for line in output if not line.startswith("{")] == [], output
