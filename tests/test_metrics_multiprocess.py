"""`cx360 serve` with several gunicorn workers: every scrape of /metrics reports the requests
of all workers, not those of the one worker that answered the scrape (issue 17).

Real gunicorn, two workers, both of which are made to answer some of the requests (checked by
the per-process files in the metrics directory), so no single worker's count is the total.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.reliability.harness import free_port
from tests.test_sigint_stop import _read_until, _start

REQUESTS = 40
SCRAPES = 8


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_1.db").write_bytes(b"left by an earlier run")
    port = free_port()
    (tmp_path / "instance").mkdir()  # the embedded SQLite database's folder
    process = _start(tmp_path, "serve", "--port", str(port), "--workers", "2")
    try:
        _read_until(process, "Booting worker", times=2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=60)


def _healthz_count(text: str) -> float:
    found = re.search(
        r'^cx360_http_requests_total\{endpoint="/healthz",method="GET",status="200"\} (\S+)$',
        text,
        re.MULTILINE,
    )
    assert found, f"no /healthz counter in:\n{text}"
    return float(found.group(1))


def test_given_two_workers_when_scraped_8_times_then_every_scrape_counts_all_requests(
    served: int, tmp_path: Path
):
    base = f"http://127.0.0.1:{served}"

    def get(path: str) -> requests.Response:
        with requests.Session() as session:  # a new connection each
            return session.get(f"{base}{path}", timeout=30)

    # one worker takes a request that has not arrived whole and waits for its rest, so the
    # other worker answers all the others; then the first answers its own: both have counted
    held = socket.create_connection(("127.0.0.1", served), timeout=30)
    with held:
        held.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        answers = [get("/healthz") for _ in range(REQUESTS - 1)]
        held.sendall(b"Connection: close\r\n\r\n")
        assert held.makefile("rb").readline().split()[1] == b"200"
    assert [answer.status_code for answer in answers] == [200] * (REQUESTS - 1)
    counted_by = sorted(path.name for path in (tmp_path / "metrics").glob("counter_*.db"))
    assert len(counted_by) == 2, f"both workers counted and the stale file is gone: {counted_by}"
    with ThreadPoolExecutor(8) as pool:
        counts = [_healthz_count(answer.text) for answer in pool.map(get, ["/metrics"] * SCRAPES)]
    assert counts == [float(REQUESTS)] * SCRAPES
