from pathlib import Path

import pytest

from connector.config import ConfigError, load_config, redacted


def test_given_no_environment_when_loading_then_sqlite_under_instance_folder(tmp_path: Path):
    config = load_config({"CX360_INSTANCE_PATH": str(tmp_path / "inst")}, dotenv_path=None)
    assert config["CX360_DATABASE_URL"] == f"sqlite:///{tmp_path / 'inst' / 'cx360.db'}"
    assert config["CX360_BROKER_URL"] == ""
    assert config["CX360_CSAT_SCALE"] == 5
    assert config["CX360_WINDOW_DAYS"] == 365


def test_given_dotenv_and_environment_when_loading_then_environment_wins(tmp_path: Path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("CX360_CRM=hubspot\nCX360_CSAT_SCALE=7\n")
    config = load_config({"CX360_CSAT_SCALE": "10"}, dotenv_path=dotenv)
    assert config["CX360_CRM"] == "hubspot"
    assert config["CX360_CSAT_SCALE"] == 10


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CX360_CSAT_SCALE", "five"),
        ("CX360_CRM", "pipedrive"),
        ("CX360_TIMEZONE", "Mitteleuropa"),
        ("CX360_TIMEZONE", "+01:00"),
    ],
)
def test_given_bad_value_when_loading_then_error_names_variable(name: str, value: str):
    with pytest.raises(ConfigError, match=name):
        load_config({name: value}, dotenv_path=None)


def test_given_secret_when_redacting_then_value_hidden():
    config = load_config({"HUBSPOT_ACCESS_TOKEN": "pat-na1-secret"}, dotenv_path=None)
    shown = redacted(config)
    assert shown["HUBSPOT_ACCESS_TOKEN"] == "***"
    assert "pat-na1-secret" not in repr(shown)


def test_given_secure_cookies_set_when_creating_app_then_session_cookie_is_secure(tmp_path: Path):
    from connector.app import create_app

    app = create_app(
        {
            "CX360_SECURE_COOKIES": True,
            "CX360_INSTANCE_PATH": str(tmp_path),
            "CX360_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_given_secret_in_a_file_when_loading_then_name_file_is_read_and_the_variable_wins(
    tmp_path: Path,
):
    token = tmp_path / "hubspot-token"
    token.write_text("pat-from-file\n")
    from_file = load_config({"HUBSPOT_ACCESS_TOKEN_FILE": str(token)}, dotenv_path=None)
    assert from_file["HUBSPOT_ACCESS_TOKEN"] == "pat-from-file"  # the newline dropped
    both = {"HUBSPOT_ACCESS_TOKEN": "pat-env", "HUBSPOT_ACCESS_TOKEN_FILE": str(token)}
    assert load_config(both, dotenv_path=None)["HUBSPOT_ACCESS_TOKEN"] == "pat-env"
    # only secret settings are read from files
    crm_file = tmp_path / "crm"
    crm_file.write_text("salesforce")
    assert load_config({"CX360_CRM_FILE": str(crm_file)}, dotenv_path=None)["CX360_CRM"] == ""


def test_given_secret_file_missing_when_loading_then_error_names_the_file_variable(tmp_path: Path):
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match=r"CX360_SECRET_KEY_FILE='.*nope': cannot read it"):
        load_config({"CX360_SECRET_KEY_FILE": str(missing)}, dotenv_path=None)


def test_given_shared_database_without_secret_key_when_starting_web_then_error_names_it(
    tmp_path: Path,
):
    from connector.app import create_app

    shared = "postgresql+psycopg://cx360@db.internal/cx360"
    with pytest.raises(ConfigError, match=r"CX360_SECRET_KEY .*must be set when CX360_DATABASE"):
        create_app({"CX360_INSTANCE_PATH": str(tmp_path), "CX360_DATABASE_URL": shared})
    # the embedded SQLite database: one server, a key generated into the instance folder
    app = create_app({"CX360_INSTANCE_PATH": str(tmp_path),
                      "CX360_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})  # fmt: skip
    assert app.secret_key == (tmp_path / "secret_key").read_text().strip()
