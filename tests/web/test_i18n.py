"""Every page in English and German: no string left untranslated, numbers and dates per locale.

Two checks keep the pages fully translated:

- the German catalog holds every string the code and templates mark for translation
  (extracted here with Babel, as ``make translations`` does), each translated and not fuzzy,
  and the compiled ``.mo`` the app loads says the same as the ``.po``;
- every page, rendered in both languages over the same data, shows no text in German that it
  also shows in English, unless the text is data (emails, account names, comments, numbers)
  or a word the catalog itself keeps the same in both languages ("Dashboard", "NPS"). A
  string someone forgot to mark for translation is found this way too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from connector.app import database
from connector.demo import sample_items
from connector.storage import Account, ApiKey, Contact
from connector.web import i18n
from crm_sandbox import SandboxServer, signin
from tests.web.conftest import (
    RATER,
    SAMPLE_RANGE,
    csrf_of,
    plain_key,
    sample_site_app,
    sign_in,
    sign_in_as,
)

ROOT = Path(__file__).resolve().parents[2]
CATALOG = i18n.TRANSLATIONS / "de" / "LC_MESSAGES"
# The attributes a person reads (or a screen reader reads out).
READ_ATTRIBUTES = ("aria-label", "placeholder", "title", "alt")
WORD = re.compile(r"[^\W\d_]{2,}")
EMAIL_PART = re.compile(r"[\w.+-]+@[\w.-]*")


def german_catalog() -> dict[str, object]:
    with (CATALOG / "messages.po").open("rb") as po:
        catalog = read_po(po, locale="de")
    assert not catalog.fuzzy, "the German catalog is marked fuzzy"
    return {message.id if isinstance(message.id, str) else message.id[0]: message
            for message in catalog if message.id}  # fmt: skip


def marked_strings() -> set[str]:
    """What code and templates mark for translation, extracted as `make translations` does."""
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}
    found = extract_from_dir(
        str(ROOT / "connector" / "web"), method_map=method_map, keywords=keywords
    )
    return {message if isinstance(message, str) else message[0] for _, _, message, _, _ in found}


def test_given_code_and_templates_when_extracting_then_german_catalog_translates_every_string():
    catalog = german_catalog()
    marked = marked_strings()
    assert len(marked) > 100  # the extraction found the pages' strings at all
    missing = sorted(marked - set(catalog))
    assert missing == [], f"not in the German catalog (run make translations): {missing[:10]}"
    untranslated = [
        key
        for key, message in catalog.items()
        if not all(message.string) or "fuzzy" in message.flags  # type: ignore[attr-defined]
    ]
    assert untranslated == [], f"German catalog entries without a translation: {untranslated}"


def test_given_po_catalog_when_compiled_then_the_shipped_mo_says_the_same():
    def entries(messages: Iterable[Message]) -> dict[object, object]:
        plain = lambda x: tuple(x) if isinstance(x, list | tuple) else x  # noqa: E731
        return {plain(m.id): plain(m.string) for m in messages if m.id}

    with (CATALOG / "messages.po").open("rb") as po:
        source = entries(read_po(po, locale="de"))
    with (CATALOG / "messages.mo").open("rb") as mo:
        shipped = entries(read_mo(mo))
    assert shipped == source, "messages.mo is older than messages.po: run make translations"


# -- the pages -------------------------------------------------------------------------------


class ReadText(HTMLParser):
    """The text a person reads on a page: text nodes and the read attributes, no scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.chart_texts: dict[str, str] = {}
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value:
                self.texts.append(" ".join(value.split()))
            if name == "data-json" and value:
                self.chart_texts = json.loads(value).get("text", {})

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if text and not self._skip:
            self.texts.append(text)


def read_text(html: str) -> ReadText:
    parser = ReadText()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, idp: SandboxServer
) -> Iterator[tuple[Flask, str, list[str]]]:
    app = sample_site_app(tmp_path_factory.mktemp("i18n"), idp)
    keys: dict[str, Any] = {scope: plain_key(app, scope) for scope in ("admin", "ingest")}
    keys["person"] = idp
    with database(app).session() as session:
        contact = session.scalar(select(Contact.id).order_by(Contact.id))
        accounts = session.execute(select(Account.name, Account.domain)).all()
    data = [str(v) for item in sample_items("responses.jsonl") for v in item.values() if v]
    data += [str(v) for item in sample_items("ratings.jsonl") for v in item.values() if v]
    data += [str(v) for row in accounts for v in row if v]
    # API keys as the header shows them: their names and scopes are an admin's labels.
    with database(app).session() as session:
        data += [v for row in session.execute(select(ApiKey.name, ApiKey.prefix)) for v in row]
    data += ["cx360", "read", "ingest", "admin", "cx360 apikey create --scope read"]
    data += [person.name for people in signin.PEOPLE.values() for person in people]
    pages = [  # (the key's scope, the page): every template, errors included
        ("admin", "/login"),
        ("admin", "/?" + "&".join(f"{k}={v}" for k, v in SAMPLE_RANGE.items())),
        ("admin", "/?from=not-a-day&account=x"),
        ("admin", "/summary?week=2026-11-16"),
        ("admin", "/rate"),
        ("admin", "/rate?q=acme"),
        ("admin", "/rate?q=nobody-matches-this"),
        ("admin", f"/rate?contact={contact}"),
        ("person", f"/rate?contact={contact}"),
        ("person", "/"),
        ("admin", "/rate?contact=99999999"),
        ("ingest", "/"),
    ]
    yield app, keys, pages, data  # type: ignore[misc]
    database(app).dispose()


def signed_in_client(app: Flask, key: str | SandboxServer, language: str) -> FlaskClient:
    """Signed in with an API key, or as a person through the sandbox when ``key`` is
    ``person:<sandbox idp>``."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    if isinstance(key, SandboxServer):
        sign_in_as(client, key, RATER)
    else:
        sign_in(client, key)
    return client


def strip_data(text: str, data: list[str]) -> str:
    """The text without the data in it: what is left must be words of the page."""
    text = EMAIL_PART.sub(" ", text)  # an address, or its halves around a <wbr>
    for value in sorted(data, key=len, reverse=True):
        if len(value) > 2 and value in text:  # 'admin' in 'admin ·3e58' too
            text = text.replace(value, " ")
    return text


def test_given_every_page_when_shown_in_german_then_nothing_is_left_in_english(site):
    app, keys, pages, data = site
    catalog = german_catalog()
    same_in_both = {k for k, m in catalog.items() if m.string == k}  # type: ignore[attr-defined]
    same_in_both |= {"cx360", "cx360_…", i18n.LANGUAGE_NAMES["en"], i18n.LANGUAGE_NAMES["de"]}
    untranslated: dict[str, list[str]] = {}
    for scope, path in pages:
        en_page = signed_in_client(app, keys[scope], "en").get(path)
        de_page = signed_in_client(app, keys[scope], "de").get(path)
        assert en_page.status_code == de_page.status_code, path
        assert '<html lang="de">' in de_page.get_data(as_text=True), path
        en_read = read_text(en_page.get_data(as_text=True))
        de_read = read_text(de_page.get_data(as_text=True))
        shown_in_english = set(en_read.texts) | set(en_read.chart_texts.values())
        for text in [*de_read.texts, *de_read.chart_texts.values()]:
            if text not in shown_in_english or text in same_in_both:
                continue
            rest = strip_data(text, data)
            words = [w for w in WORD.findall(rest) if w not in same_in_both]
            if words:
                untranslated.setdefault(path, []).append(text)
        assert len(de_read.texts) > 5, path
    assert untranslated == {}


def test_given_german_page_when_showing_figures_then_numbers_and_dates_are_german(site):
    app, keys, _, _ = site
    english, german = (signed_in_client(app, keys["admin"], lang) for lang in ("en", "de"))
    path = "/?" + "&".join(f"{k}={v}" for k, v in SAMPLE_RANGE.items())
    en_html = english.get(path).get_data(as_text=True)
    de_html = german.get(path).get_data(as_text=True)
    en_nps = re.search(r'data-figure="nps">([^<]+)<', en_html)
    de_nps = re.search(r'data-figure="nps">([^<]+)<', de_html)
    assert en_nps and de_nps
    assert re.fullmatch(r"[+-]?\d+\.\d", en_nps.group(1))
    assert de_nps.group(1) == en_nps.group(1).replace(".", ",")
    # The range's first and last day: 1 Jan 2026 in English, 01.01.2026 in German.
    assert "1 Jan 2026 \u2013 30 Nov 2026" in en_html
    assert "01.01.2026 \u2013 30.11.2026" in de_html


def test_given_language_picked_on_a_page_when_browsing_on_then_it_is_kept(site):
    app, keys, _, _ = site
    client = signed_in_client(app, keys["admin"], "en")
    assert '<html lang="de">' in client.get("/rate?lang=de").get_data(as_text=True)
    page = client.get("/summary?week=2026-11-16").get_data(as_text=True)
    assert '<html lang="de">' in page and "Wochenübersicht" in page
    # The switch on every page leads to the other language and keeps the query.
    assert 'href="/summary?week=2026-11-16&amp;lang=en"' in page
    assert csrf_of(page)
