"""Secrets (environment first, then Fernet-encrypted in the database) and login requests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connector.crm.auth import SalesforceToken, jwt_assertion, salesforce_token_request
from connector.crm.errors import FatalCrmError
from connector.crm.secrets import (
    decrypt_secret,
    encrypt_secret,
    secret,
    store_secret,
    stored_secret,
)
from connector.storage import Database
from connector.storage.schema import create_schema


@pytest.fixture
def db_config(tmp_path: Path) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path / 'secrets.db'}"
    database = Database(url)
    create_schema(database)
    database.dispose()
    return {"CX360_DATABASE_URL": url, "CX360_SECRET_KEY": "k" * 32}


def test_given_a_stored_secret_when_read_then_it_decrypts_and_is_not_stored_in_clear(
    db_config: dict[str, Any],
) -> None:
    store_secret(db_config, "HUBSPOT_ACCESS_TOKEN", "pat-na1-secret")
    store_secret(db_config, "HUBSPOT_ACCESS_TOKEN", "pat-na1-rotated")

    assert stored_secret(db_config, "HUBSPOT_ACCESS_TOKEN") == "pat-na1-rotated"
    database_bytes = Path(db_config["CX360_DATABASE_URL"].removeprefix("sqlite:///")).read_bytes()
    assert b"pat-na1" not in database_bytes


@pytest.mark.parametrize(
    ("environment_value", "expected"),
    [("from-env", "from-env"), ("", "from-db")],
)
def test_given_env_and_stored_values_when_looked_up_then_the_environment_wins(
    db_config: dict[str, Any], environment_value: str, expected: str
) -> None:
    store_secret(db_config, "SALESFORCE_CLIENT_SECRET", "from-db")
    config = {**db_config, "SALESFORCE_CLIENT_SECRET": environment_value}

    assert secret(config, "SALESFORCE_CLIENT_SECRET") == expected


def test_given_no_database_table_when_looked_up_then_there_is_no_stored_secret(
    tmp_path: Path,
) -> None:
    config = {"CX360_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "CX360_SECRET_KEY": "k"}

    assert stored_secret(config, "HUBSPOT_ACCESS_TOKEN") is None


def test_given_another_secret_key_when_decrypting_then_a_fatal_error_names_the_secret() -> None:
    ciphertext = encrypt_secret("value", "key-one")

    with pytest.raises(FatalCrmError) as caught:
        decrypt_secret("HUBSPOT_ACCESS_TOKEN", ciphertext, "key-two")

    assert "HUBSPOT_ACCESS_TOKEN" in str(caught.value)
    assert "value" not in str(caught.value).replace("HUBSPOT", "")


def _no_store(_config: Mapping[str, Any], _name: str) -> str | None:
    return None


def test_given_a_key_pair_when_signing_then_salesforce_gets_a_verifiable_jwt_bearer_request(
    tmp_path: Path,
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_file = tmp_path / "server.key"
    key_file.write_bytes(pem)
    config = {
        "SALESFORCE_AUTH": "jwt",
        "SALESFORCE_CLIENT_ID": "3MVG9-consumer-key",
        "SALESFORCE_USERNAME": "cx360@acme.example",
        "SALESFORCE_AUDIENCE": "https://test.salesforce.com",
        "SALESFORCE_PRIVATE_KEY_FILE": str(key_file),
    }

    form = salesforce_token_request(config, _no_store)

    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(
        form["assertion"],
        key.public_key(),
        algorithms=["RS256"],
        audience=config["SALESFORCE_AUDIENCE"],
    )
    assert (claims["iss"], claims["sub"]) == ("3MVG9-consumer-key", "cx360@acme.example")


@pytest.mark.parametrize(
    ("config", "missing"),
    [
        ({"SALESFORCE_AUTH": "client_credentials"}, "SALESFORCE_CLIENT_ID"),
        (
            {"SALESFORCE_AUTH": "client_credentials", "SALESFORCE_CLIENT_ID": "c"},
            "SALESFORCE_CLIENT_SECRET",
        ),
        ({"SALESFORCE_AUTH": "jwt", "SALESFORCE_CLIENT_ID": "c"}, "SALESFORCE_USERNAME"),
        (
            {"SALESFORCE_AUTH": "jwt", "SALESFORCE_CLIENT_ID": "c", "SALESFORCE_USERNAME": "u"},
            "SALESFORCE_PRIVATE_KEY_FILE",
        ),
        ({"SALESFORCE_AUTH": "password", "SALESFORCE_CLIENT_ID": "c"}, "SALESFORCE_AUTH"),
    ],
)
def test_given_incomplete_salesforce_auth_settings_when_logging_in_then_the_error_names_the_setting(
    config: dict[str, str], missing: str
) -> None:
    with pytest.raises(FatalCrmError) as caught:
        salesforce_token_request(config, _no_store)

    assert missing in str(caught.value)


def test_given_a_token_when_shown_then_the_access_token_is_hidden() -> None:
    token = SalesforceToken("00Dxx!secret-session", "https://acme.my.salesforce.com")

    assert "secret-session" not in repr(token)


def test_given_a_fixed_clock_when_signing_then_the_assertion_expires_in_three_minutes() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    assertion = jwt_assertion("client", "user", "https://login.salesforce.com", key, now=1_000_000)  # type: ignore[arg-type]

    claims = jwt.decode(assertion, options={"verify_signature": False})
    assert claims["exp"] == 1_000_180


def test_given_cx360_secrets_set_when_run_then_stored_encrypted_listed_and_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from connector.cli import main
    from connector.config import load_config

    url = f"sqlite:///{tmp_path / 'cx360.db'}"
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    for name in ("HUBSPOT_ACCESS_TOKEN", "SALESFORCE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CX360_DATABASE_URL", url)
    monkeypatch.setenv("CX360_SECRET_KEY", "s" * 40)
    runner = CliRunner()
    typed = runner.invoke(main, ["secrets", "set", "HUBSPOT_ACCESS_TOKEN"],
                          input="pat-eu1-typed\npat-eu1-typed\n")  # fmt: skip
    assert typed.exit_code == 0, typed.output
    assert "stored HUBSPOT_ACCESS_TOKEN (encrypted)" in typed.output
    assert "pat-eu1-typed" not in typed.output.replace("pat-eu1-typed\n", "")  # no echo
    piped = runner.invoke(main, ["secrets", "set", "SALESFORCE_CLIENT_SECRET", "--from-file", "-"],
                          input="sf-secret\n")  # fmt: skip
    assert piped.exit_code == 0, piped.output
    config = load_config(dotenv_path=None)
    assert secret(config, "HUBSPOT_ACCESS_TOKEN") == "pat-eu1-typed"  # what the adapters read
    assert secret(config, "SALESFORCE_CLIENT_SECRET") == "sf-secret"
    assert (tmp_path / "cx360.db").read_bytes().find(b"pat-eu1-typed") == -1
    listed = runner.invoke(main, ["secrets", "list"])
    assert listed.exit_code == 0
    assert any(line.split() == ["HUBSPOT_ACCESS_TOKEN", "stored"]
               for line in listed.output.splitlines())  # fmt: skip
    assert "pat-eu1-typed" not in listed.output


@pytest.mark.parametrize(
    ("args", "unset_key", "message"),
    [
        (["secrets", "set", "CX360_CRM"], False, "CX360_CRM is not a CRM secret"),
        (["secrets", "set", "HUBSPOT_ACCESS_TOKEN"], True, "CX360_SECRET_KEY must be set"),
    ],
)
def test_given_bad_secrets_set_when_run_then_one_line_names_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], unset_key: bool,
    message: str,
) -> None:  # fmt: skip
    from click.testing import CliRunner

    from connector.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CX360_DATABASE_URL", f"sqlite:///{tmp_path / 'cx360.db'}")
    if unset_key:
        monkeypatch.delenv("CX360_SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("CX360_SECRET_KEY", "s" * 40)
    done = CliRunner().invoke(main, args, input="x\nx\n")
    assert done.exit_code == 1
    assert message in done.output
