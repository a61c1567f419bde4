"""A taken port: `cx360 serve`, `demo` and `sandbox` say so in one line, exit non-zero (17.3).

Real processes against a real listening socket; no traceback, no gunicorn retry lines.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def taken_port() -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()


def _cx360(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CX360_", "HUBSPOT_", "SALESFORCE_"))
    }
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # this checkout's code
    return subprocess.run(
        [sys.executable, "-m", "connector.cli", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("serve", "--no-migrate", "--port", "{port}"), "--port"),
        (("demo", "--once", "--sandbox-port", "0", "--port", "{port}"), "--port"),
        (("demo", "--once", "--sandbox-port", "{port}", "--port", "0"), "--sandbox-port"),
        (("sandbox", "--port", "{port}"), "--port"),
    ],
)
def test_given_port_taken_when_starting_then_one_line_naming_port_and_non_zero_exit(
    tmp_path: Path, taken_port: int, args: tuple[str, ...], option: str
):
    done = _cx360(tmp_path, *(a.format(port=taken_port) for a in args))
    output = (done.stdout + done.stderr).strip()
    assert done.returncode != 0, output
    assert "Traceback" not in output and "Connection in use" not in output
    error_lines = output.splitlines()
    assert len(error_lines) == 1 and error_lines[0].startswith("Error:"), output
    assert f"Port {taken_port} on 127.0.0.1 is not available" in error_lines[0]
    assert option in error_lines[0]
