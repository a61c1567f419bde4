"""The web pages: login, the NPS dashboard, the weekly summary and the employee rating form.

Pages render HTML (errors too: a person is reading); the JSON API stays under ``/api``.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from connector.auth import find_api_key
from connector.scoring import ScoringConfig, bucket_start
from connector.storage import utcnow
from connector.web import access, dashboard, rating

log = logging.getLogger(__name__)
EMPLOYEE = "cx360.web.employee"
LANGUAGE = "cx360.web.lang"
NO_VALUE = "\u2013"  # an en dash: "no data"

web_blp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/web-static",
)

# Inline scripts and styles are not needed (chart data travels in a JSON element), so the
# policy forbids them: a comment with markup in it can never run.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _db() -> Session:
    from connector.app import db_session

    return db_session()


def _config() -> ScoringConfig:
    return ScoringConfig.from_config(current_app.config)


@web_blp.record_once
def _configure_cookies(state: Any) -> None:
    app: Flask = state.app
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config.get("CX360_SECURE_COOKIES"))
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"


@web_blp.before_request
def _csrf() -> None:
    if request.method == "POST":
        access.check_csrf()


@web_blp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@web_blp.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": access.csrf_token}


@web_blp.app_template_filter("cx_num")
def format_number(value: float | None, signed: bool = False) -> str:
    """One decimal (the scoring core rounded already), a sign for NPS scores, a dash for none."""
    if value is None:
        return NO_VALUE
    if isinstance(value, int):  # one person's answer (a contact's nps.score) is a whole number
        return f"{value:+d}" if signed and value != 0 else str(value)
    return f"{value:+.1f}" if signed and value != 0 else f"{value:.1f}"


@web_blp.app_template_filter("cx_day")
def format_day(value: datetime | date | None) -> str:
    return value.strftime("%-d %b %Y") if value else NO_VALUE


@web_blp.app_template_filter("cx_time")
def format_time(value: datetime | None) -> str:
    return value.strftime("%-d %b %Y, %H:%M UTC") if value else "never"


@web_blp.app_template_filter("cx_segment")
def format_segment(value: str | None) -> str:
    return dashboard.SEGMENT_LABELS.get(value or "", NO_VALUE)


# -- errors: HTML for pages ------------------------------------------------------------------


def _error_page(code: int, message: str) -> tuple[str, int]:
    visitor = access.load_visitor(_db()) if code not in (500, 503) else None
    return render_template(
        "web/error.html", code=code, message=message, visitor=visitor
    ), code  # fmt: skip


@web_blp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int]:
    return _error_page(exc.code or 500, exc.description or exc.name)


@web_blp.errorhandler(DBAPIError)
def _database_error(exc: DBAPIError) -> tuple[str, int]:
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        log.warning("storage unavailable: %s", type(exc).__name__)
        return _error_page(503, "The database is not reachable right now. Try again shortly.")
    log.exception("database error")
    return _error_page(500, "Something went wrong on our side; nothing was saved.")


@web_blp.errorhandler(Exception)
def _unexpected(exc: Exception) -> tuple[str, int]:
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    log.exception("unhandled error on a page")
    return _error_page(500, "Something went wrong on our side.")


# -- login -----------------------------------------------------------------------------------


@web_blp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    db = _db()
    visitor = access.load_visitor(db)
    target = access.safe_next(request.values.get("next"), "")
    if request.method == "GET":
        return render_template("web/login.html", visitor=visitor, next=target, error=None)
    key = find_api_key(db, (request.form.get("api_key") or "").strip())
    if key is None:
        return render_template(
            "web/login.html", visitor=visitor, next=target,
            error="That key is not valid (or was revoked). Paste the whole key, cx360_…",
        ), 401  # fmt: skip
    db.commit()  # find_api_key records when the key was last used
    access.sign_in(key)
    visitor = access.load_visitor(db)
    default = url_for("web.dashboard") if visitor.may("read") else url_for("web.rate")
    return redirect(target or default)


@web_blp.post("/logout")
def logout() -> BaseResponse:
    access.sign_out()
    return redirect(url_for("web.login"))


# -- dashboard and weekly summary ------------------------------------------------------------


@web_blp.get("/", endpoint="dashboard")
@access.require("read", load=_db)
def dashboard_page() -> Any:
    db = _db()
    filters, errors = dashboard.parse_filters(request.args, utcnow().date())
    data = dashboard.build_dashboard(db, filters, _config())
    status = 200 if not errors else 422
    return render_template(
        "web/dashboard.html", visitor=access.load_visitor(db), dash=data, errors=errors,
        pct=dashboard.pct, charts=data.chart_data(),
    ), status  # fmt: skip


@web_blp.get("/summary")
@access.require("read", load=_db)
def summary() -> Any:
    db = _db()
    today = utcnow().date()
    raw = (request.args.get("week") or "").strip()
    try:
        week_of = date.fromisoformat(raw) if raw else today - timedelta(weeks=1)
    except ValueError:
        week_of = today - timedelta(weeks=1)
    account = request.args.get("account", "")
    account_id = int(account) if account.isdigit() else None
    data = dashboard.build_weekly_summary(db, week_of, _config(), account_id)
    this_week = bucket_start(dashboard.day_start(today), "week").date()
    return render_template(
        "web/summary.html", visitor=access.load_visitor(db), week=data, pct=dashboard.pct,
        charts=data.chart_data(), account_id=account_id,
        previous=(data.week_start - timedelta(weeks=1)).date().isoformat(),
        following=(data.week_start + timedelta(weeks=1)).date().isoformat()
        if data.week_start.date() < this_week else None,
    )  # fmt: skip


# -- the rating form -------------------------------------------------------------------------


def _language() -> str:
    asked = request.args.get("lang")
    if asked in rating.LANGUAGES:
        session[LANGUAGE] = asked
        return asked
    kept = session.get(LANGUAGE)
    if kept in rating.LANGUAGES:
        return str(kept)
    return request.accept_languages.best_match(rating.LANGUAGES, default="en") or "en"


def _rate_page(db: Session, status: int = 200, **context: Any) -> tuple[str, int]:
    lang = _language()
    context.setdefault("query", "")
    context.setdefault("results", None)
    context.setdefault("target", None)
    context.setdefault("errors", {})
    context.setdefault("form", {})
    context.setdefault("scorecard", {})
    return render_template(
        "web/rate.html", visitor=access.load_visitor(db), lang=lang, t=rating.TEXTS[lang],
        other_lang="de" if lang == "en" else "en", employee=session.get(EMPLOYEE, ""),
        **context,
    ), status  # fmt: skip


@web_blp.route("/rate", methods=["GET", "POST"])
@access.require("read", "ingest", load=_db)
def rate() -> Any:
    db = _db()
    raw_id = request.values.get("contact", "")
    target = rating.customer(db, int(raw_id)) if raw_id.isdigit() else None
    if raw_id and target is None:
        return _rate_page(db, 404, errors={"customer": "That customer no longer exists."})
    if request.method == "GET":
        query = (request.args.get("q") or "").strip()
        results = rating.search_customers(db, query) if query else None
        scorecard = rating.scorecard_values(db, target.id) if target else {}
        return _rate_page(db, query=query, results=results, target=target, scorecard=scorecard)
    if target is None:
        return _rate_page(db, 422, errors={"customer": "Pick a customer first."})
    try:
        rating.save_rating(request.form, target)
    except ValidationError as exc:
        return _rate_page(
            db, 422, target=target, form=request.form, errors=rating.field_errors(exc),
            scorecard=rating.scorecard_values(db, target.id),
        )  # fmt: skip
    session[EMPLOYEE] = (request.form.get("employee") or "").strip().lower()
    flash(rating.TEXTS[_language()]["saved"], "saved")
    return redirect(url_for("web.rate", contact=target.id))
