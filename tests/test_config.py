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
    ("name", "value"), [("CX360_CSAT_SCALE", "five"), ("CX360_CRM", "pipedrive")]
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
