"""The revenue view in Debian's headless Chromium (issue #22): the tiles and the list show the
hand-computed example of tests/revenue_readings.py in German and English, the account scatter
is sized by revenue, and the page still fits a phone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crm_sandbox import SandboxServer
from tests.revenue_readings import load_revenue_example
from tests.web.conftest import plain_key, sample_site_app
from tests.web.test_browser import DESKTOP, PHONE, Site, assert_fits_phone, serve_site, sign_in

pytestmark = pytest.mark.integration

BUBBLES = """() => {
  const shown = JSON.parse(document.getElementById('chart-data').getAttribute('data-json'));
  return Object.fromEntries(Chart.getChart('chart-accounts').data.datasets[0].data
    .map((point, i) => [shown.accounts[i].label, point.r]));
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, idp: SandboxServer) -> Iterator[Site]:
    app = sample_site_app(tmp_path_factory.mktemp("revenue-web"), idp)
    ingest = {"Authorization": f"Bearer {plain_key(app, 'ingest')}"}
    load_revenue_example(app, app.test_client(), ingest)
    yield from serve_site(app)


def _tile(page: Any, currency: str, figure: str) -> str:
    text = page.locator(f'[data-currency="{currency}"] [data-figure="{figure}"]').inner_text()
    return str(text).replace("\xa0", " ").replace("\u202f", " ")


@pytest.mark.parametrize(
    ("lang", "at_risk", "coverage", "weighted", "initech"),
    [
        ("en", "€60,000.00", "90.0 %", "+11.1", "€10,000.00"),
        ("de", "60.000,00 €", "90,0 %", "+11,1", "10.000,00 €"),
    ],
)
def test_given_the_example_when_opening_the_dashboard_then_chromium_shows_the_hand_computation(
    site: Site, open_page: Any, tmp_path: Path, lang: str, at_risk: str, coverage: str,
    weighted: str, initech: str,
):  # fmt: skip
    page = open_page(**DESKTOP)
    sign_in(page, site, site.read_key, f"/?lang={lang}")
    assert _tile(page, "EUR", "revenue-at-risk") == at_risk
    assert _tile(page, "EUR", "revenue-coverage") == coverage
    assert _tile(page, "EUR", "revenue-weighted-nps") == weighted
    assert page.locator('[data-currency="USD"]').count() == 1  # dollars: a row of their own
    row = page.locator('[data-section="revenue-without-signal"] tbody tr')
    assert row.count() == 1
    assert row.locator("th").inner_text() == "Initech"
    assert row.locator("td").inner_text().replace("\xa0", " ") == initech
    # the revenue view is above the feedback tiles
    revenue_top = page.locator('[data-section="revenue"]').bounding_box()["y"]
    assert revenue_top < page.locator('[data-figure="nps"]').bounding_box()["y"]
    page.screenshot(path=str(tmp_path / f"revenue-{lang}.png"), full_page=True)


def test_given_the_example_when_charting_accounts_then_bubble_area_follows_revenue(
    site: Site, open_page: Any
):
    page = open_page(**DESKTOP)
    sign_in(page, site, site.read_key, "/?lang=en")
    page.wait_for_function("window.cx360Charts && window.cx360Charts.length === 3")
    radius = page.evaluate(BUBBLES)
    # 5 + 20 * sqrt(revenue / largest revenue of the same currency)
    assert radius["acme.example"] == pytest.approx(25.0)
    assert radius["globex.example"] == pytest.approx(5 + 20 * 0.5**0.5)
    assert radius["umbrella.example"] == pytest.approx(25.0)  # the largest in dollars
    sample_accounts = [r for label, r in radius.items() if not label.endswith(".example")]
    assert sample_accounts and all(r == 5 for r in sample_accounts)  # no revenue read


@pytest.mark.parametrize("locale", ["en-GB", "de-DE"])
def test_given_phone_when_viewing_the_revenue_view_then_it_fits_the_screen(
    site: Site, open_page: Any, locale: str
):
    page = open_page(**PHONE, locale=locale)
    sign_in(page, site, site.read_key, "/")
    assert page.locator('[data-section="revenue"] .tile').count() == 6
    assert_fits_phone(page)
