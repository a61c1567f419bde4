"""The deployment material in deploy/: systemd units, the gunicorn config, the environment file.

The units are checked by systemd itself (``systemd-analyze verify``, Debian's systemd
package; make test installs it) with the install prefix /opt/cx360/venv pointed at this
checkout's virtualenv, so the programs they start exist. Any warning fails the test, as does an
ExecStart option the CLI does not know.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from connector.config import SETTINGS
from tests.conftest import service_missing

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
PREFIX = "/opt/cx360/venv"
VENV = Path(sys.executable).parent.parent
GUNICORN_SETTINGS = {"CX360_BIND", "CX360_WEB_WORKERS", "CX360_FORWARDED_ALLOW_IPS"}


def unit_lines(unit: Path, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in unit.read_text().splitlines()
            if line.startswith(f"{key}=")]  # fmt: skip


def test_given_deploy_folder_when_listed_then_web_worker_and_beat_units_are_there():
    assert [u.name for u in UNITS] == [
        "cx360-beat.service",
        "cx360-web.service",
        "cx360-worker@.service",
    ]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_given_unit_when_verified_by_systemd_then_no_error_and_no_warning(
    unit: Path, tmp_path: Path
):
    if shutil.which("systemd-analyze") is None:
        service_missing("systemd-analyze (apt-get install systemd; make test installs it)")
    local = tmp_path / unit.name
    local.write_text(unit.read_text().replace(PREFIX, str(VENV)))
    done = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # unknown keys are only warnings
    text = unit.read_text()
    assert "KillMode=mixed" in text and "Restart=on-failure" in text
    assert "User=cx360" in text and "EnvironmentFile=/etc/cx360/cx360.env" in text


@pytest.mark.parametrize("unit", [u for u in UNITS if "cx360 " in u.read_text()],
                         ids=lambda u: u.name)  # fmt: skip
def test_given_unit_running_the_cli_when_parsed_then_every_option_exists(unit: Path):
    (command,) = unit_lines(unit, "ExecStart")
    args = shlex.split(command.replace(PREFIX, str(VENV)))
    done = subprocess.run([*args, "--help"], capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_given_units_when_read_then_exactly_one_runs_beat():
    def runs_beat(unit: Path) -> bool:
        args = shlex.split(" ".join(unit_lines(unit, "ExecStart")))
        return "beat" in args or "--beat" in args

    assert [u.name for u in UNITS if runs_beat(u)] == ["cx360-beat.service"]
    (beat,) = unit_lines(DEPLOY / "systemd" / "cx360-beat.service", "ExecStart")
    assert shlex.split(beat)[1:2] == ["beat"]  # `cx360 beat` itself, no worker around it
    (worker,) = unit_lines(DEPLOY / "systemd" / "cx360-worker@.service", "ExecStart")
    assert "--no-beat" in worker  # identical worker units never start a second beat


def test_given_gunicorn_config_when_checked_then_it_loads_the_app(tmp_path: Path):
    env = {**os.environ, "CX360_INSTANCE_PATH": str(tmp_path), "CX360_DATABASE_URL": "",
           "CX360_SECRET_KEY": "deploy-test", "CX360_BIND": "127.0.0.1:0"}  # fmt: skip
    done = subprocess.run(
        [str(VENV / "bin" / "gunicorn"), "--check-config", "--config",
         str(DEPLOY / "gunicorn.conf.py"), "connector.app:create_app()"],
        capture_output=True, text=True, timeout=120, check=False, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_given_environment_example_when_read_then_every_variable_is_a_known_setting():
    known = {s.name for s in SETTINGS} | GUNICORN_SETTINGS
    named = re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (DEPLOY / "cx360.env.example").read_text(),
                       flags=re.MULTILINE)  # fmt: skip
    assert named, "the example names no settings"
    assert sorted(set(named) - known) == []
    assert "CX360_SECRET_KEY" in named and "CX360_DATABASE_URL" in named
