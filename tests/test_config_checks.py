"""Settings mistakes end every CLI command with one ``Error:`` line naming the setting.

Run through the real ``cx360`` entry point in a subprocess, so a traceback anywhere in the
command would show on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from connector.config import ConfigError, load_config
from connector.config_checks import database_url_checked

SECRET = "pat-na1-secret-that-must-not-be-printed"


def _cx360(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CX360_", "HUBSPOT_", "SALESFORCE_"))
    }
    environ.update(
        CX360_INSTANCE_PATH=str(tmp_path / "instance"),
        CX360_CRM="hubspot",
        HUBSPOT_ACCESS_TOKEN=SECRET,
        **settings,
    )
    return subprocess.run(
        [sys.executable, "-m", "connector.cli", *args],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _assert_one_error_line(result: subprocess.CompletedProcess[str], *named: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert SECRET not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: ")
    for text in named:
        assert text in lines[0]


@pytest.mark.parametrize("command", [("check",), ("install", "--dry-run"), ("db", "upgrade")])
def test_given_missing_ca_bundle_when_running_command_then_one_line_names_setting(
    tmp_path: Path, command: tuple[str, ...]
):
    missing = tmp_path / "no-such-ca.pem"
    result = _cx360(tmp_path, *command, CX360_CRM_CA_BUNDLE=str(missing))
    _assert_one_error_line(result, "CX360_CRM_CA_BUNDLE", str(missing), "no such file")


def test_given_ca_bundle_that_is_not_pem_when_checking_then_one_line_says_so(tmp_path: Path):
    not_pem = tmp_path / "ca.der"
    not_pem.write_bytes(b"\x30\x82\x01\x0a not a pem file")
    result = _cx360(tmp_path, "check", CX360_CRM_CA_BUNDLE=str(not_pem))
    _assert_one_error_line(result, "CX360_CRM_CA_BUNDLE", "not a PEM")


def test_given_unknown_database_scheme_when_checking_then_one_line_names_setting(
    tmp_path: Path,
):
    result = _cx360(tmp_path, "check", CX360_DATABASE_URL="mysql://u:p@localhost/cx360")
    _assert_one_error_line(result, "CX360_DATABASE_URL", "'mysql'", "postgresql://")


def test_given_postgres_scheme_when_loading_then_rewritten_to_postgresql(tmp_path: Path):
    config = load_config(
        {
            "CX360_INSTANCE_PATH": str(tmp_path),
            "CX360_DATABASE_URL": "postgres://cx360:pw@db.example:5432/cx360",
        },
        dotenv_path=None,
    )
    assert config["CX360_DATABASE_URL"] == "postgresql://cx360:pw@db.example:5432/cx360"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres+psycopg://h/db", "postgresql+psycopg://h/db"),
        ("postgresql://h/db", "postgresql://h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_given_supported_url_when_checking_then_kept_or_aliased(given: str, expected: str):
    assert database_url_checked(given) == expected


def test_given_text_without_scheme_when_loading_then_error_names_setting(tmp_path: Path):
    with pytest.raises(ConfigError, match="CX360_DATABASE_URL: not a URL"):
        load_config(
            {"CX360_INSTANCE_PATH": str(tmp_path), "CX360_DATABASE_URL": "localhost/cx360"},
            dotenv_path=None,
        )


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("HUBSPOT_BASE_URL", "http://api.hubapi.com", "http:// is not allowed"),
        ("HUBSPOT_BASE_URL", "https://api.hubapi.com/crm/v3", "remove the path '/crm/v3'"),
        ("SALESFORCE_INSTANCE_URL", "https://acme.my.salesforce.com/lightning", "remove the path"),
        ("SALESFORCE_TOKEN_URL", "acme.my.salesforce.com", "expected an https:// URL"),
    ],
)
def test_given_unusable_crm_url_when_checking_then_one_line_names_setting(
    tmp_path: Path, setting: str, value: str, named: str
):
    result = _cx360(tmp_path, "check", **{setting: value})
    _assert_one_error_line(result, setting, value, named)


def test_given_token_url_with_its_path_when_loading_then_accepted(tmp_path: Path):
    url = "https://acme.my.salesforce.com/services/oauth2/token"
    config = load_config(
        {"CX360_INSTANCE_PATH": str(tmp_path), "SALESFORCE_TOKEN_URL": url}, dotenv_path=None
    )
    assert config["SALESFORCE_TOKEN_URL"] == url
