"""`cx360 worker --beat` in an empty folder (issue 17.1/17.3): it creates instance/ and starts.

Before, the worker waited 60 s for an SQLite file whose folder nobody made, and beat died on
its missing schedule file while the worker said "ready". A real worker and beat on real Redis.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pipeline.conftest import REDIS_TEST_URL


@pytest.mark.integration
def test_given_empty_folder_when_worker_with_beat_starts_then_instance_made_and_beat_runs(
    tmp_path: Path,
):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CX360_", "HUBSPOT_", "SALESFORCE_"))
    }
    env.update(CX360_CRM="hubspot", CX360_BROKER_URL=REDIS_TEST_URL, HUBSPOT_ACCESS_TOKEN="unused")
    worker = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "worker", "-c", "1", "--beat",
         "--wait-for-db", "0"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    seen: list[str] = []
    try:
        assert worker.stdout is not None
        for line in worker.stdout:  # readiness is a line, not a sleep
            seen.append(line)
            if "beat: Starting" in line or "Traceback" in line or "corrupted" in line:
                break
    finally:
        worker.send_signal(signal.SIGTERM)
        rest, _ = worker.communicate(timeout=120)
    output = "".join(seen) + rest
    assert (tmp_path / "instance").is_dir()
    assert "beat: Starting" in output, output[-3000:]
    assert "corrupted schedule" not in output and "Traceback" not in output, output[-3000:]
    assert worker.returncode == 0, output[-3000:]
