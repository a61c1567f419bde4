"""GET /api/v1/stats/revenue and the revenue in the account scorecard (issue #22), against a
hand-computed example."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.revenue_readings import load_revenue_example


@pytest.fixture
def example(app: Flask, client: FlaskClient, ingest_headers: dict[str, str]) -> None:
    load_revenue_example(app, client, ingest_headers)


@pytest.mark.usefixtures("example")
def test_given_the_example_when_asking_then_figures_per_currency_match_the_hand_computation(
    client: FlaskClient, read_headers: dict[str, str]
):
    reply = client.get("/api/v1/stats/revenue", headers=read_headers)
    assert reply.status_code == 200, reply.json
    body: dict[str, Any] = reply.json
    eur, usd = body["portfolios"]
    # (60000 * -100/3 + 30000 * 100) / 90000 = 11.11..; coverage 90000 / 100000
    assert eur == {
        "currency": "EUR", "accounts": 3, "revenue": 100000.0, "revenue_with_feedback": 90000.0,
        "revenue_at_risk": 60000.0, "revenue_without_signal": 10000.0, "weighted_nps": 11.1,
        "coverage_pct": 90.0, "at_risk": 1, "safe": 1, "no_signal": 1,
    }  # fmt: skip
    assert usd["revenue"] == 5000.25 and usd["weighted_nps"] == 100.0
    assert (body["unknown_currency"], body["unknown_amount"]) == (0, 1)
    assert body["window_days"] == 365
    assert body["without_signal"] == [
        {"domain": "initech.example", "crm_id": None, "name": "Initech", "amount": 10000.0,
         "currency": "EUR", "status": "no_signal", "nps": None},
    ]  # fmt: skip


@pytest.mark.usefixtures("example")
def test_given_one_account_when_filtering_then_only_its_figures(
    client: FlaskClient, read_headers: dict[str, str]
):
    body = client.get("/api/v1/stats/revenue?account=acme.example", headers=read_headers).json
    (eur,) = body["portfolios"]
    assert (eur["revenue_at_risk"], eur["weighted_nps"], eur["coverage_pct"]) == (
        60000.0, -33.3, 100.0,
    )  # fmt: skip
    missing = client.get("/api/v1/stats/revenue?account=nobody.example", headers=read_headers)
    assert missing.status_code == 404
    assert "nobody.example" in missing.json["message"]


@pytest.mark.usefixtures("example")
def test_given_the_example_when_reading_account_scorecards_then_revenue_beside_the_metrics(
    client: FlaskClient, read_headers: dict[str, str]
):
    acme = client.get("/api/v1/accounts/acme.example/scorecard", headers=read_headers).json
    assert {k: v for k, v in acme["metrics"].items() if k.startswith("revenue.")} == {
        "revenue.amount": 60000.0, "revenue.currency": "EUR", "revenue.status": "at_risk",
    }  # fmt: skip
    assert acme["revenue"]["deals"] == 3
    mixed = client.get("/api/v1/accounts/mixed.example/scorecard", headers=read_headers).json
    assert mixed["metrics"]["revenue.amount"] is None
    assert mixed["revenue"]["note"] == "deals in EUR and USD"
    hooli = client.get("/api/v1/accounts/hooli.example/scorecard", headers=read_headers).json
    assert hooli["metrics"]["revenue.amount"] == 0.0
    assert hooli["metrics"]["revenue.status"] is None


def test_given_no_revenue_read_when_asking_then_empty_view_and_documented(
    client: FlaskClient, read_headers: dict[str, str]
):
    body = client.get("/api/v1/stats/revenue", headers=read_headers).json
    assert body["portfolios"] == [] and body["without_signal"] == []
    spec = client.get("/api/openapi.json").json
    assert "/api/v1/stats/revenue" in spec["paths"]
    assert "RevenueStatsOut" in spec["components"]["schemas"]


def test_given_a_read_key_when_asking_for_a_refresh_then_403_admin_only(
    client: FlaskClient, read_headers: dict[str, str]
):
    reply = client.post("/api/v1/stats/revenue/refresh", headers=read_headers)
    assert reply.status_code == 403
    assert "admin" in reply.json["message"]
