"""ScoringConfig from the CX360_* configuration variables."""

from __future__ import annotations

from typing import Any

import pytest

from connector.config import ConfigError, load_config
from connector.scoring import ScoringConfig


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, ScoringConfig(365, 5, 4, 7.0)),
        ({"CX360_WINDOW_DAYS": 90}, ScoringConfig(90, 5, 4, 7.0)),
        (
            {
                "CX360_WINDOW_DAYS": "180",
                "CX360_CSAT_SCALE": "10",
                "CX360_CSAT_SATISFIED_MIN": "8",
                "CX360_SEGMENT_POTENTIAL_MIN": "6.5",
                "CX360_CRM": "hubspot",  # unrelated keys are ignored
            },
            ScoringConfig(180, 10, 8, 6.5),
        ),
        ({"CX360_CSAT_SCALE": "", "CX360_WINDOW_DAYS": None}, ScoringConfig()),
    ],
)
def test_given_config_when_reading_scoring_config_then_values_or_defaults(
    config: dict[str, Any], expected: ScoringConfig
) -> None:
    assert ScoringConfig.from_config(config) == expected


def test_given_business_time_zone_when_reading_scoring_config_then_zone_kept() -> None:
    config = load_config({"CX360_TIMEZONE": "Europe/Berlin"}, None)
    assert ScoringConfig.from_config(config).timezone == "Europe/Berlin"
    assert ScoringConfig.from_config({}).timezone == "UTC"


def test_given_loaded_environment_when_reading_scoring_config_then_same_values() -> None:
    config = load_config({"CX360_CSAT_SCALE": "7", "CX360_CSAT_SATISFIED_MIN": "6"}, None)
    assert ScoringConfig.from_config(config) == ScoringConfig(csat_scale=7, csat_satisfied_min=6)


@pytest.mark.parametrize(
    ("config", "variable"),
    [
        ({"CX360_WINDOW_DAYS": "a year"}, "CX360_WINDOW_DAYS"),
        ({"CX360_WINDOW_DAYS": 0}, "CX360_WINDOW_DAYS"),
        ({"CX360_CSAT_SCALE": 1}, "CX360_CSAT_SCALE"),
        ({"CX360_CSAT_SATISFIED_MIN": 6}, "CX360_CSAT_SATISFIED_MIN"),  # above the 1..5 scale
        ({"CX360_CSAT_SATISFIED_MIN": 0}, "CX360_CSAT_SATISFIED_MIN"),
        ({"CX360_SEGMENT_POTENTIAL_MIN": 11}, "CX360_SEGMENT_POTENTIAL_MIN"),
        ({"CX360_SEGMENT_POTENTIAL_MIN": "high"}, "CX360_SEGMENT_POTENTIAL_MIN"),
        ({"CX360_TIMEZONE": "Berlin"}, "CX360_TIMEZONE"),
        ({"CX360_TIMEZONE": "../etc/passwd"}, "CX360_TIMEZONE"),
    ],
)
def test_given_bad_value_when_reading_scoring_config_then_error_names_variable(
    config: dict[str, Any], variable: str
) -> None:
    with pytest.raises(ConfigError, match=variable):
        ScoringConfig.from_config(config)


def test_given_bad_field_when_constructing_config_then_value_error_names_field() -> None:
    with pytest.raises(ValueError, match="csat_satisfied_min"):
        ScoringConfig(csat_scale=10, csat_satisfied_min=11)
