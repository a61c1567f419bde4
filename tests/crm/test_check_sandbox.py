"""``cx360 check`` against the sandbox through the real clients: refused credentials.

HubSpot answers a bad bearer token with 401
(https://developers.hubspot.com/docs/api-reference/error-handling); an OAuth token endpoint
such as Salesforce's refuses a bad client secret with an error reply
(https://datatracker.ietf.org/doc/html/rfc6749#section-5.2). Either way ``check`` must not say
"logged in" and must name the setting to fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import main
from crm_sandbox import SandboxServer

pytestmark = pytest.mark.integration

WRONG = "wrong-credential-that-must-not-be-printed"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with SandboxServer(crm="both", port=0, state_dir=tmp_path_factory.mktemp("sandbox")) as server:
        yield server


@pytest.mark.parametrize(
    ("crm", "setting", "named"),
    [
        ("hubspot", "HUBSPOT_ACCESS_TOKEN", "HUBSPOT_ACCESS_TOKEN"),
        ("salesforce", "SALESFORCE_CLIENT_SECRET", "SALESFORCE_CLIENT_SECRET"),
    ],
)
def test_given_refused_credentials_when_checking_then_not_logged_in_and_setting_named(
    sandbox: SandboxServer,
    crm: str,
    setting: str,
    named: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    settings = {**sandbox.client_settings(), "CX360_CRM": crm, setting: WRONG}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no .env from the working tree

    result = CliRunner().invoke(main, ["check"])

    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an exception
    assert "logged in" not in result.output
    failures = [line for line in result.output.splitlines() if "[FAIL]" in line]
    assert len(failures) == 1, result.output
    assert named in failures[0]
    assert WRONG not in result.output


@pytest.mark.parametrize(
    ("crm", "setting", "url", "named"),
    [
        ("hubspot", "HUBSPOT_BASE_URL", "https://127.0.0.1:1", "cannot connect to 127.0.0.1:1"),
        ("hubspot", "HUBSPOT_BASE_URL", "https://no-such-host.invalid", "not found (DNS"),
        ("salesforce", "SALESFORCE_TOKEN_URL", "https://127.0.0.1:1/t", "cannot connect"),
    ],
)
def test_given_unreachable_crm_url_when_checking_then_url_and_cause_named(
    sandbox: SandboxServer,
    crm: str,
    setting: str,
    url: str,
    named: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for name, value in {**sandbox.client_settings(), "CX360_CRM": crm, setting: url}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, ["check"])

    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "logged in" not in result.output
    failures = [line for line in result.output.splitlines() if "[FAIL]" in line]
    assert len(failures) == 1, result.output
    assert f"{setting}={url}" in failures[0]
    assert named in failures[0]
