"""Ctrl+C stops `cx360 sandbox` and `cx360 serve` promptly while clients keep sending (issue 17.3).

Real processes and real client loops (kept-alive and new connections). The limit below is a
hang limit, not a speed assertion: by design each stops within about a second (pending TLS
handshakes cut short, kept-alive connections closed, requests in flight not waited for long);
the failure message reports how long it took.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.reliability.harness import free_port

ROOT = Path(__file__).resolve().parents[1]
HANG_LIMIT_SECONDS = 15.0


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CX360_", "HUBSPOT_", "SALESFORCE_"))}  # fmt: skip
    env.update(PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))  # this checkout's code
    command = [sys.executable, "-m", "connector.cli", *args]
    return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def _read_until(process: subprocess.Popen[str], marker: str, times: int = 1) -> list[str]:
    """The output up to the ``times``-th line with ``marker``; the rest is read on by a thread
    into ``_drained[process.pid]``, as a supervisor reads it: an unread pipe would fill with
    access log lines and block the server's writes (and so its stop) once 64 KiB were written.
    Call once per process: from then on the thread is its output's only reader."""
    assert process.stdout is not None
    lines: list[str] = []
    seen = 0
    for line in process.stdout:
        lines.append(line.rstrip())
        seen += marker in line
        if seen == times:
            rest = _drained.setdefault(process.pid, [])
            threading.Thread(target=rest.extend, args=(process.stdout,), daemon=True).start()
            return lines
    raise AssertionError(f"no line with {marker!r}:\n" + "\n".join(lines))


_drained: dict[int, list[str]] = {}


@dataclass
class ClientLoops:
    """Threads sending requests until stopped: one on a kept-alive connection, one opening
    a new connection per request."""

    get: Callable[[requests.Session], requests.Response]
    answered: int = 0
    running: bool = True
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for keep_alive in (True, False):
            thread = threading.Thread(target=self._loop, args=(keep_alive,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _loop(self, keep_alive: bool) -> None:
        session = requests.Session()
        while self.running:
            try:
                self.get(session)
                self.answered += 1
            except requests.RequestException:
                time.sleep(0.01)  # the server is stopping
            if not keep_alive:
                session.close()

    def stop(self) -> None:
        self.running = False
        for thread in self.threads:
            thread.join(10)


def _wait_for_answers(loops: ClientLoops, count: int) -> None:
    deadline = time.monotonic() + 60
    while loops.answered < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert loops.answered >= count, f"only {loops.answered} requests answered"


def _interrupt_and_time(process: subprocess.Popen[str]) -> tuple[int | None, float, str]:
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    try:
        process.wait(HANG_LIMIT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None, time.monotonic() - started, "".join(_drained.get(process.pid, []))
    return process.returncode, time.monotonic() - started, ""


@pytest.fixture
def stopped_at_end() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.integration
def test_given_clients_sending_when_sandbox_gets_sigint_then_it_exits_0_promptly(
    tmp_path: Path, stopped_at_end: list[subprocess.Popen[str]]
):
    process = _start(tmp_path, "sandbox", "--port", "0", "--state-dir", str(tmp_path / "state"))
    stopped_at_end.append(process)
    lines = _read_until(process, "Ctrl+C")
    url = next(line for line in lines if "listening on" in line).split()[-1]
    ca = next(line for line in lines if line.startswith("CA certificate:")).split()[-1]
    loops = ClientLoops(lambda s: s.get(f"{url}/__sandbox__/info", verify=ca, timeout=30))
    loops.start()
    try:
        _wait_for_answers(loops, 20)
        code, seconds, output = _interrupt_and_time(process)
    finally:
        loops.stop()
    assert code == 0, (
        f"sandbox: exit {code} {seconds:.1f} s after SIGINT (hang limit "
        f"{HANG_LIMIT_SECONDS:g} s); {loops.answered} requests answered\n{output}"
    )


@pytest.mark.integration
def test_given_clients_sending_when_serve_gets_sigint_then_it_exits_0_promptly(
    tmp_path: Path, stopped_at_end: list[subprocess.Popen[str]]
):
    port = free_port()
    (tmp_path / "instance").mkdir()  # the embedded SQLite database's folder
    process = _start(tmp_path, "serve", "--port", str(port), "--workers", "2")
    stopped_at_end.append(process)
    _read_until(process, "Booting worker")
    url = f"http://127.0.0.1:{port}/healthz"
    loops = ClientLoops(lambda s: s.get(url, timeout=30))
    loops.start()
    try:
        _wait_for_answers(loops, 20)
        code, seconds, output = _interrupt_and_time(process)
    finally:
        loops.stop()
    assert code == 0, (
        f"serve: exit {code} {seconds:.1f} s after SIGINT (hang limit "
        f"{HANG_LIMIT_SECONDS:g} s); {loops.answered} requests answered\n{output}"
    )
