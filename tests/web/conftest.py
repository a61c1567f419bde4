"""Shared helpers of the web page tests: sample data, keys, the CSRF token of a page,
people signing in through the sandbox CRM as identity provider, and Debian's headless Chromium
(driven by Playwright) for the browser tests."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connector.app import create_app, database
from connector.auth import create_api_key
from connector.demo import sample_items
from connector.storage import Database
from connector.storage.schema import create_schema
from crm_sandbox import SandboxServer, signin
from tests.conftest import make_test_app, score_outbox, service_missing
from tests.signin import pick_user

# The sample data's whole span, so the figures do not depend on the day the tests run.
SAMPLE_RANGE = {"from": "2026-01-01", "to": "2026-11-30"}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


ADMIN = "anna.berger@cx360-demo.example"  # a sandbox user of the connected org and portal
RATER = "ben.vogt@cx360-demo.example"
OUTSIDER = "eve.other@other-company.example"  # a user of another org / portal


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """The sandbox CRM as the identity provider people sign in with."""
    with SandboxServer(state_dir=tmp_path_factory.mktemp("idp")) as server:
        yield server


def sign_in_config(idp: SandboxServer) -> dict[str, str]:
    return {**idp.sign_in_settings(), "CX360_SSO_ADMIN_EMAILS": ADMIN}


@pytest.fixture
def app(database_url: str, tmp_path: Path, idp: SandboxServer) -> Iterator[Flask]:
    """The tests' app (tests/conftest.py) with sign-in through the sandbox."""
    yield from make_test_app(database_url, tmp_path, **sign_in_config(idp))


def sign_in_as(
    client: FlaskClient, idp: SandboxServer, email: str, provider: str = "salesforce"
) -> Any:
    """Sign ``email`` in the way a browser does: to the provider, pick the user, back to the
    callback; the callback's reply."""
    who = next(p for p in signin.PEOPLE[provider] if p.email == email)
    start = client.get(f"/login/{provider}")
    assert start.status_code == 302, start.get_data(as_text=True)
    back = urlsplit(pick_user(start.location, who.user_id, idp.ca_path))
    return client.get(f"{back.path}?{back.query}")


def sample_site_app(folder: Path, idp: SandboxServer) -> Flask:
    """An app on a fresh SQLite database in ``folder`` holding the scored sample data."""
    url = f"sqlite:///{folder / 'cx360.db'}"
    create_schema(Database(url))
    app = create_app(
        {
            "CX360_DATABASE_URL": url,
            "CX360_INSTANCE_PATH": str(folder / "instance"),
            "CX360_SECRET_KEY": f"{folder.name}-secret",
            **sign_in_config(idp),
        }
    )
    load_samples(app.test_client(), plain_key(app, "ingest"))
    return app


def plain_key(app: Flask, scope: str) -> str:
    with database(app).session() as session:
        _, key = create_api_key(session, scope, f"web test {scope}")
    return key


def load_samples(client: FlaskClient, ingest_key: str) -> None:
    """Post the shipped sample responses and ratings through the REST API, and score them
    as the worker would (the pages show stored scorecards)."""
    headers = {"Authorization": f"Bearer {ingest_key}"}
    for kind, name in (("responses", "responses.jsonl"), ("ratings", "ratings.jsonl")):
        items = sample_items(name)
        for start in range(0, len(items), 500):
            reply = client.post(
                f"/api/v1/{kind}", json={kind: items[start : start + 500]}, headers=headers
            )
            assert reply.status_code == 200, reply.json
    score_outbox(client.application)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: FlaskClient, key: str, **extra: str) -> Any:
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"api_key": key, "csrf_token": token, **extra})


def expected_sample_nps() -> tuple[float, int]:
    """The sample's NPS over SAMPLE_RANGE worked out here by the definition (an oracle).

    Latest NPS answer per contact (by answered_at); promoters 9-10, detractors 0-6.
    """
    latest: dict[str, dict[str, Any]] = {}
    for item in sample_items("responses.jsonl"):
        if item["kind"] != "nps":
            continue
        key = item["email"].lower()
        if key not in latest or item["answered_at"] > latest[key]["answered_at"]:
            latest[key] = item
    scores = [i["score"] for i in latest.values()]
    promoters = sum(s >= 9 for s in scores)
    detractors = sum(s <= 6 for s in scores)
    return round(100 * (promoters - detractors) / len(scores), 1), len(scores)


@pytest.fixture
def key_of(app: Flask) -> Callable[[str], str]:
    return lambda scope: plain_key(app, scope)


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str | None:
    configured = os.environ.get("CX360_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        service_missing("Chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("the playwright Python package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    """A fresh browser context per call; fails the test on any script error or console error."""
    contexts: list[Any] = []
    problems: list[str] = []

    def make(expected_console: tuple[str, ...] = (), **options: Any) -> Any:
        # The sandbox CRM (the identity provider's pages) has a test CA of its own, which
        # Debian's Chromium does not know; cx360's own pages are plain HTTP here.
        context = browser.new_context(ignore_https_errors=True, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

        def console(msg: Any) -> None:
            if msg.type == "error" and not any(e in msg.text for e in expected_console):
                problems.append(f"console: {msg.text}")

        page.on("console", console)
        return page

    yield make
    for context in contexts:
        context.close()
    assert problems == []
