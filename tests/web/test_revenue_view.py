"""The dashboard's revenue view (issue #22) in German and English, against the hand-computed
example of tests/revenue_readings.py."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.revenue_readings import load_revenue_example
from tests.web.conftest import sign_in

KeyOf = Callable[[str], str]


def _figure(html: str, currency: str, name: str) -> str:
    row = html.split(f'data-currency="{currency}"', 1)[1]
    found = re.search(rf'data-figure="{name}">(.*?)</p>', row, re.S)
    assert found, f"no {name} for {currency}"
    return unescape(re.sub(r"<[^>]+>", "", found.group(1))).replace("\xa0", " ").strip()


@pytest.fixture
def page(app: Flask, client: FlaskClient, key_of: KeyOf) -> Callable[[str], str]:
    load_revenue_example(app, client, {"Authorization": f"Bearer {key_of('ingest')}"})
    assert sign_in(client, key_of("read")).status_code == 302

    def get(query: str) -> str:
        reply = client.get(f"/{query}")
        assert reply.status_code == 200
        return reply.get_data(as_text=True)

    return get


@pytest.mark.parametrize(
    ("lang", "at_risk", "coverage", "weighted", "without_signal", "usd_at_risk"),
    [
        ("en", "€60,000.00", "90.0 %", "+11.1", "€10,000.00", "$0.00"),
        ("de", "60.000,00 €", "90,0 %", "+11,1", "10.000,00 €", "0,00 $"),
    ],
)
def test_given_the_example_when_opening_the_dashboard_then_revenue_figures_per_locale(
    page: Callable[[str], str], lang: str, at_risk: str, coverage: str, weighted: str,
    without_signal: str, usd_at_risk: str,
):  # fmt: skip
    html = page(f"?lang={lang}")
    assert _figure(html, "EUR", "revenue-at-risk") == at_risk
    assert _figure(html, "EUR", "revenue-coverage") == coverage
    assert _figure(html, "EUR", "revenue-weighted-nps") == weighted
    assert _figure(html, "USD", "revenue-at-risk") == usd_at_risk
    no_signal = html.split('data-section="revenue-without-signal"', 1)[1].split("</article>")[0]
    assert "Initech" in no_signal
    assert without_signal in unescape(no_signal).replace("\xa0", " ")
    assert "acme.example" not in no_signal and "hooli.example" not in no_signal
    heading = {"en": "Revenue without signal", "de": "Umsatz ohne Signal"}[lang]
    assert heading in no_signal
    # The revenue tiles come before the feedback tiles: at the top.
    assert html.index('data-section="revenue"') < html.index('data-figure="nps"')


def test_given_the_example_when_charting_accounts_then_points_are_sized_by_revenue(
    page: Callable[[str], str],
):
    html = page("?lang=en")
    found = re.search(r'data-json="([^"]*)"', html)
    assert found
    points = {p["label"]: p for p in json.loads(unescape(found.group(1)))["accounts"]}
    assert json.loads(unescape(found.group(1)))["size_by"] == "revenue"
    # Area by revenue within a currency: acme (60,000 EUR) is the largest EUR account, globex
    # (30,000 EUR) has sqrt(1/2) of its size; umbrella is the largest (only) USD account.
    assert points["acme.example"]["size"] == 1.0 and points["umbrella.example"]["size"] == 1.0
    assert points["globex.example"]["size"] == pytest.approx(0.5**0.5)
    assert points["acme.example"]["revenue_text"] == "€60,000.00"


def test_given_no_revenue_read_when_opening_the_dashboard_then_says_how_to_get_it(
    client: FlaskClient, key_of: KeyOf
):
    assert sign_in(client, key_of("read")).status_code == 302
    html = client.get("/?lang=de").get_data(as_text=True)
    assert "Noch kein Umsatz aus dem CRM gelesen" in html
