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
from hubspot import HubSpot

from connector.cli import main
from crm_sandbox import SandboxServer
from crm_sandbox.control import HUBSPOT_SCOPES

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


@pytest.mark.parametrize(
    ("crm", "setting"), [("hubspot", "HUBSPOT_BASE_URL"), ("salesforce", "SALESFORCE_TOKEN_URL")]
)
@pytest.mark.parametrize("configured", [True, False], ids=["ca-bundle-set", "default-ca"])
def test_given_ca_not_trusting_the_crm_when_checking_then_tls_and_ca_in_use_named(
    sandbox: SandboxServer,
    crm: str,
    setting: str,
    configured: bool,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # The sandbox's certificate comes from its own CA; certifi's public CAs do not trust it,
    # as a corporate proxy's or an on-premise endpoint's would not be.
    import certifi

    for name, value in {**sandbox.client_settings(), "CX360_CRM": crm}.items():
        monkeypatch.setenv(name, value)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    if configured:
        monkeypatch.setenv("CX360_CRM_CA_BUNDLE", certifi.where())
        named = f"CX360_CRM_CA_BUNDLE={certifi.where()}"
    else:
        monkeypatch.delenv("CX360_CRM_CA_BUNDLE")
        named = "the default CA bundle"
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, ["check"])

    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.output  # no traceback
    failures = [line for line in result.output.splitlines() if "[FAIL]" in line]
    assert len(failures) == 1, result.output
    line = failures[0]
    assert f"{setting}={sandbox.client_settings()[setting]}" in line
    assert "TLS verification failed" in line and named in line
    assert "set CX360_CRM_CA_BUNDLE" in line
    assert "logged in" not in result.output


@pytest.mark.parametrize(
    "missing", [("crm.objects.contacts.write",), ("crm.objects.contacts.write",
                                                  "crm.schemas.companies.write")]
)  # fmt: skip
def test_given_token_without_write_or_task_scopes_when_checking_then_scopes_and_setting_named(
    sandbox: SandboxServer, missing: tuple[str, ...], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    """``check`` reads the private app token's scopes as HubSpot documents it (``POST
    /oauth/v2/private-apps/get/access-token-info``, https://developers.hubspot.com/docs/api/
    private-apps): a token that can read but not write contacts (nor create tasks, which need
    crm.objects.contacts.write: https://developers.hubspot.com/docs/api-reference/latest/crm/
    activities/tasks/guide) fails with one line naming the scopes and the setting."""
    settings = {**sandbox.client_settings(), "CX360_CRM": "hubspot"}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    sandbox.admin.set_credentials(hubspot_scopes=[s for s in HUBSPOT_SCOPES if s not in missing])
    try:
        result = CliRunner().invoke(main, ["check"])
    finally:
        sandbox.admin.set_credentials(hubspot_scopes=list(HUBSPOT_SCOPES))

    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    failures = [line for line in result.output.splitlines() if "[FAIL]" in line]
    assert len(failures) == 1, result.output
    assert "HUBSPOT_ACCESS_TOKEN" in failures[0]
    assert all(scope in failures[0] for scope in missing), failures[0]
    assert "Traceback" not in result.output
    assert settings["HUBSPOT_ACCESS_TOKEN"] not in result.output


def test_given_token_with_every_scope_when_checking_then_scopes_ok(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in {**sandbox.client_settings(), "CX360_CRM": "hubspot"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, ["check"])

    assert "[  ok] permissions: the token holds every scope cx360 needs" in result.output


def test_given_archived_follow_up_key_when_checking_and_dry_running_then_both_say_restore_it(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An archived property is in HubSpot's recycling bin, listed with ``archived=true``
    (https://developers.hubspot.com/docs/api-reference/latest/crm/properties/delete-property);
    the v3 API cannot restore it, so ``check`` reports it and ``install --dry-run`` (and
    ``install``) stop with the same steps, instead of trying to create it again."""
    settings = {**sandbox.client_settings(), "CX360_CRM": "hubspot"}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["install"]).exit_code == 0
    client = HubSpot(
        access_token=settings["HUBSPOT_ACCESS_TOKEN"],
        host=settings["HUBSPOT_BASE_URL"],
        ssl_ca_cert=settings["CX360_CRM_CA_BUNDLE"],
    )
    client.crm.properties.core_api.archive("tasks", "cx360_follow_up_key")
    try:
        checked = runner.invoke(main, ["check"])
        planned = runner.invoke(main, ["install", "--dry-run"])
    finally:
        sandbox.admin.reset()

    assert checked.exit_code == 1, checked.output
    failures = [line for line in checked.output.splitlines() if "[FAIL]" in line]
    assert len(failures) == 1, checked.output
    assert "cx360_follow_up_key is archived" in failures[0] and "Restore" in failures[0]
    assert planned.exit_code == 1, planned.output
    assert "cx360_follow_up_key is archived" in planned.output
    assert "Traceback" not in checked.output + planned.output


def test_given_oauth_app_without_write_scope_when_checking_then_scope_and_setting_named(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An OAuth access token's scopes come from ``GET /oauth/v1/access-tokens/{token}``
    (https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/
    get-oauth-token-metadata)."""
    info = sandbox.info()
    settings = {**sandbox.client_settings(), "CX360_CRM": "hubspot",
                "HUBSPOT_REFRESH_TOKEN": info["hubspot_refresh_token"],
                "HUBSPOT_CLIENT_ID": info["hubspot_client_id"],
                "HUBSPOT_CLIENT_SECRET": info["hubspot_client_secret"]}  # fmt: skip
    settings.pop("HUBSPOT_ACCESS_TOKEN")
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    sandbox.admin.set_credentials(
        hubspot_scopes=[s for s in HUBSPOT_SCOPES if s != "crm.objects.companies.write"]
    )
    try:
        result = CliRunner().invoke(main, ["check"])
    finally:
        sandbox.admin.set_credentials(hubspot_scopes=list(HUBSPOT_SCOPES))

    assert result.exit_code == 1, result.output
    failures = [line for line in result.output.splitlines() if "[FAIL]" in line]
    assert len(failures) == 1, result.output
    assert "HUBSPOT_REFRESH_TOKEN" in failures[0]
    assert "crm.objects.companies.write" in failures[0]
    assert info["hubspot_client_secret"] not in result.output
