"""`cx360 demo --once` as a newcomer runs it: no server, prints the CRM's scores, exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.integration
@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_nothing_installed_when_running_demo_once_then_scores_read_back_from_crm(
    tmp_path: Path, crm: str
):
    env = {
        k: v
        for k, v in __import__("os").environ.items()
        if not k.startswith(("CX360_", "HUBSPOT_", "SALESFORCE_"))
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "connector.cli",
            "demo",
            "--once",
            "--crm",
            crm,
            "--port",
            "0",
            "--sandbox-port",
            "0",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert f"as the {crm} sandbox holds them (read back)" in output
    # the hand-checked sample account (tests/scoring): NPS 60.0, MoE 70.1, CSAT 50.0, rNPS -20.0
    line = next(x for x in output.splitlines() if x.startswith("│ kessler-soehne.de "))
    domain, nps, moe, n, csat, rnps, potential, segment, revenue, currency = (
        cell.strip() for cell in line.split("│")[1:-1]
    )
    assert (nps, moe, csat, rnps, potential) == ("60.0", "70.1", "50.0", "-20.0", "6.6")
    # the sandbox's sample deals (connector/sample_data/deals.csv): one won in the last year
    assert (float(revenue), currency) == (14750.0, "EUR")
    assert "Read the closed-won revenue of 8 account(s)" in output
    assert float(n) == 5 and segment.lower() == "maintain" and domain == "kessler-soehne.de"
    assert "Follow-up tasks for new detractors created in the CRM: 12" in output
    assert "petra.unbekannt@gmx.de" in output
    assert not (tmp_path / "instance" / "demo" / "broker" / "redis.sock").exists()
