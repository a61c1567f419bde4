"""The pages' languages: English and German, with Flask-Babel.

Every string a person reads on a page goes through gettext (templates: ``_()`` and
``ngettext()``; Python: ``gettext`` / ``lazy_gettext``), the German catalog lives in
``translations/de/LC_MESSAGES`` (``make translations`` extracts, updates and compiles it), and
numbers, amounts of money and dates are formatted by Babel for the page's locale: "14,8",
"1.234,50 €" and "31.08.2026" in German, "14.8", "€1,234.50" and "31 Aug 2026" in English.

The language is, in this order: the one picked on a page (``?lang=de``, kept in the session),
the browser's ``Accept-Language``, English.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from flask import Flask, request, session
from flask_babel import (
    Babel,
    format_currency,
    format_date,
    format_datetime,
    format_decimal,
    get_locale,
)

LANGUAGES = ("en", "de")
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch"}
DEFAULT_LANGUAGE = "en"
SESSION_KEY = "cx360.web.lang"
TRANSLATIONS = Path(__file__).parent / "translations"
NO_VALUE = "\u2013"  # an en dash: "no data"

# Day patterns per language (CLDR syntax): the German short date, an unambiguous English one.
DAY_PATTERNS = {"de": "dd.MM.y", "en": "d MMM y"}
TIME_PATTERNS = {"de": "dd.MM.y, HH:mm 'UTC'", "en": "d MMM y, HH:mm 'UTC'"}


def select_language() -> str:
    """The page's language: picked on a page, else the browser's, else English."""
    picked = request.args.get("lang")
    if picked in LANGUAGES:
        session[SESSION_KEY] = picked
        return picked
    kept = session.get(SESSION_KEY)
    if kept in LANGUAGES:
        return str(kept)
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE) or "en"


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    Babel(app, locale_selector=select_language)


def language() -> str:
    locale = get_locale()
    return locale.language if locale and locale.language in LANGUAGES else DEFAULT_LANGUAGE


def other_language() -> str:
    return "de" if language() == "en" else "en"


def format_number(value: float | None, signed: bool = False) -> str:
    """One decimal (the scoring core rounded already), a sign for NPS scores, a dash for none.

    A whole number (one person's answer, a count) stays whole.
    """
    if value is None:
        return NO_VALUE
    digits = "0" if isinstance(value, int) else "0.0"
    pattern = f"+#,##{digits};-#,##{digits}" if signed and value != 0 else f"#,##{digits}"
    return str(format_decimal(value, format=pattern))


def format_money(value: float | Decimal | None, currency: str | None) -> str:
    """An amount in its currency as the page's locale writes it ("1.234,50 €", "€1,234.50");
    a dash for none, the bare number when the currency is unknown."""
    if value is None:
        return NO_VALUE
    if not currency:
        return str(format_decimal(value, format="#,##0.00"))
    return str(format_currency(value, currency))


def format_day(value: datetime | date | None) -> str:
    if not value:
        return NO_VALUE
    day = value.date() if isinstance(value, datetime) else value
    return str(format_date(day, format=DAY_PATTERNS[language()]))


def format_time(value: datetime | None, never: str) -> str:
    if not value:
        return never
    return str(format_datetime(value, format=TIME_PATTERNS[language()], rebase=False))
