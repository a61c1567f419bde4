"""The revenue refresh's schedule (issue #22): daily by default, off at 0, bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.celery_app import beat_schedule
from connector.config import ConfigError, load_config


def _config(tmp_path: Path, **env: str) -> dict[str, object]:
    return load_config({"CX360_INSTANCE_PATH": str(tmp_path), **env}, dotenv_path=None)


def test_given_defaults_when_scheduling_then_revenue_is_refreshed_daily(tmp_path: Path):
    schedule = beat_schedule(_config(tmp_path))
    assert schedule["refresh-revenue"] == {"task": "cx360.refresh_revenue", "schedule": 86400.0}
    assert "relay-outbox" in schedule


def test_given_zero_hours_when_scheduling_then_refresh_only_on_demand(tmp_path: Path):
    schedule = beat_schedule(_config(tmp_path, CX360_REVENUE_REFRESH_HOURS="0"))
    assert "refresh-revenue" not in schedule and "relay-outbox" in schedule


@pytest.mark.parametrize("value", ["-1", "nan", "daily"])
def test_given_bad_hours_when_loading_then_error_names_the_setting(tmp_path: Path, value: str):
    with pytest.raises(ConfigError, match="CX360_REVENUE_REFRESH_HOURS"):
        _config(tmp_path, CX360_REVENUE_REFRESH_HOURS=value)
