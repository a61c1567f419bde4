"""The web pages: login, the NPS dashboard, the weekly summary and the employee rating form.

Pages render HTML (errors too: a person is reading); the JSON API stays under ``/api``.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from authlib.integrations.base_client.errors import OAuthError
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from marshmallow import ValidationError
from requests import RequestException
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from connector.api.errors import is_storage_unavailable, log_storage_unavailable
from connector.auth import find_api_key
from connector.extensions import db_session
from connector.scoring import ScoringConfig, bucket_start, round1
from connector.storage import utcnow
from connector.web import access, dashboard, i18n, rating, sso

log = logging.getLogger(__name__)
NEXT = "cx360.web.next"

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
    return db_session()


def _config() -> ScoringConfig:
    return ScoringConfig.from_config(current_app.config)


def _today(config: ScoringConfig) -> date:
    """Today on the business's calendar."""
    return utcnow().astimezone(config.zone).date()


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


@web_blp.record_once
def _extensions(state: Any) -> None:
    i18n.init_app(state.app)
    sso.init_app(state.app)


@web_blp.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {
        "csrf_token": access.csrf_token,
        "lang": i18n.language,
        "other_lang": i18n.other_language,
        "language_names": i18n.LANGUAGE_NAMES,
    }


@web_blp.app_template_filter("cx_num")
def format_number(value: float | None, signed: bool = False) -> str:
    return i18n.format_number(value, signed)


@web_blp.app_template_filter("round1")
def round_one_decimal(value: float | None) -> float | None:
    """The scoring core's rounding (half away from zero) for figures the core leaves whole."""
    return round1(value)


@web_blp.app_template_filter("cx_money")
def format_money(value: float | Decimal | None, currency: str | None) -> str:
    return i18n.format_money(value, currency)


@web_blp.app_template_filter("cx_day")
def format_day(value: datetime | date | None) -> str:
    return i18n.format_day(value)


@web_blp.app_template_filter("cx_time")
def format_time(value: datetime | None) -> str:
    return i18n.format_time(value, never=_("never"))


@web_blp.app_template_filter("cx_segment")
def format_segment(value: str | None) -> str:
    label = dashboard.SEGMENT_LABELS.get(value or "")
    return str(label) if label else i18n.NO_VALUE


RUN_STATUS_LABELS = {
    "queued": lazy_gettext("queued"),
    "running": lazy_gettext("running"),
    "succeeded": lazy_gettext("succeeded"),
    "partial": lazy_gettext("partial"),
    "failed": lazy_gettext("failed"),
}

# Werkzeug's own descriptions are English; a page says the same in the visitor's language.
HTTP_MESSAGES = {
    400: lazy_gettext("The request could not be understood. Go back and try again."),
    401: lazy_gettext("Sign in to see this page."),
    403: lazy_gettext("You may not see this page."),
    404: lazy_gettext("There is no page at this address."),
    405: lazy_gettext("This page cannot be used that way."),
    413: lazy_gettext("What was sent is too large."),
}


@web_blp.app_template_filter("cx_run_status")
def format_run_status(value: str) -> str:
    return str(RUN_STATUS_LABELS.get(value, value))


@web_blp.app_template_filter("cx_category")
def format_category(value: str | None) -> str:
    label = dashboard.CATEGORY_LABELS.get(value or "")
    return str(label) if label else i18n.NO_VALUE


def _chart_texts(charts: dict[str, Any]) -> dict[str, Any]:
    """The charts' data with their words in the page's language and its day format."""
    for week in charts.get("weeks", []):
        week["label"] = i18n.format_day(date.fromisoformat(week["label"]))
    charts["text"] = {
        "band": _("95 % margin of error"),
        "nps": _("NPS"),
        "week_of": _("Week of {week}"),
        "contacts": _("Contacts"),
        "accounts": _("Accounts"),
        "customer_nps": _("Customer NPS"),
        "employee_relationship": _("Employee relationship (0\u201310)"),
        "account_point": _(
            "{account}: NPS {nps}, relationship {relationship}, responses {responses}"
        ),
        "account_revenue": _("revenue {revenue}"),
    }
    for point in charts.get("accounts", []):
        point["revenue_text"] = (
            i18n.format_money(point["revenue"], point["currency"]) if point["revenue"] else ""
        )
    return charts


# -- errors: HTML for pages ------------------------------------------------------------------


def _error_page(code: int, message: str) -> tuple[str, int]:
    visitor = access.load_visitor(_db()) if code not in (500, 503) else None
    return render_template(
        "web/error.html", code=code, message=message, visitor=visitor
    ), code  # fmt: skip


@web_blp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int]:
    code = exc.code or 500
    own = exc.description and exc.description != type(exc).description
    generic = HTTP_MESSAGES.get(code, lazy_gettext("Something went wrong on our side."))
    return _error_page(code, str(exc.description if own else generic))


@web_blp.errorhandler(DBAPIError)
def _database_error(exc: DBAPIError) -> tuple[str, int]:
    if is_storage_unavailable(exc):
        log_storage_unavailable(exc)
        return _error_page(503, _("The database is not reachable right now. Try again shortly."))
    log.exception("database error")
    return _error_page(500, _("Something went wrong on our side; nothing was saved."))


@web_blp.errorhandler(Exception)
def _unexpected(exc: Exception) -> tuple[str, int]:
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    log.exception("unhandled error on a page")
    return _error_page(500, _("Something went wrong on our side."))


# -- login -----------------------------------------------------------------------------------


def _login_page(status: int = 200, error: str | None = None, **context: Any) -> Any:
    config = current_app.config
    providers = [(p, sso.label(config, p)) for p in sso.enabled(config)]
    context.setdefault("next", "")
    return render_template(
        "web/login.html", visitor=access.load_visitor(_db()), providers=providers, error=error,
        **context,
    ), status  # fmt: skip


@web_blp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    db = _db()
    target = access.safe_next(request.values.get("next"), "")
    if request.method == "GET":
        return _login_page(next=target)
    key = find_api_key(db, (request.form.get("api_key") or "").strip())
    if key is None:
        error = _("That key is not valid (or was revoked). Paste the whole key, cx360_…")
        return _login_page(401, error, next=target)
    db.commit()  # find_api_key records when the key was last used
    access.sign_in(key)
    visitor = access.load_visitor(db)
    default = url_for("web.dashboard") if visitor.may("read") else url_for("web.rate")
    return redirect(target or default)


def _provider(name: str) -> str:
    if name not in sso.enabled(current_app.config):
        abort(404)
    return name


@web_blp.get("/login/<provider>")
def sign_in_start(provider: str) -> Any:
    """Off to the identity provider; it sends the person back to ``sign_in_finish``."""
    session[NEXT] = access.safe_next(request.args.get("next"), "")
    back = url_for("web.sign_in_finish", provider=_provider(provider), _external=True)
    return sso.client(provider).authorize_redirect(back)


@web_blp.get("/login/<provider>/callback")
def sign_in_finish(provider: str) -> Any:
    name = sso.label(current_app.config, _provider(provider))
    if request.args.get("error"):
        log.info("sign-in with %s cancelled: %s", provider, request.args.get("error"))
        return _login_page(403, _("Signing in with %(provider)s was cancelled or refused.",
                                  provider=name))  # fmt: skip
    try:
        token = sso.client(provider).authorize_access_token()
        person = sso.decide(current_app.config, sso.identity_from_token(provider, token))
    except sso.Refused as refused:
        log.info("sign-in with %s refused: %s", provider, refused)
        return _login_page(403, str(refused))
    except (OAuthError, RequestException, KeyError, ValueError) as exc:
        log.warning("sign-in with %s failed: %s: %s", provider, type(exc).__name__, exc)
        failed = _("Signing in with %(provider)s failed. Try again; if it keeps failing, "
                   "tell your administrator.", provider=name)  # fmt: skip
        return _login_page(502, failed)
    access.sign_in_person(person)
    return redirect(session.pop(NEXT, "") or url_for("web.dashboard"))


@web_blp.post("/logout")
def logout() -> BaseResponse:
    access.sign_out()
    return redirect(url_for("web.login"))


# -- dashboard and weekly summary ------------------------------------------------------------


@web_blp.get("/", endpoint="dashboard")
@access.require("read", load=_db)
def dashboard_page() -> Any:
    db = _db()
    config = _config()
    filters, errors = dashboard.parse_filters(request.args, _today(config), config.zone)
    data = dashboard.build_dashboard(db, filters, config)
    status = 200 if not errors else 422
    return render_template(
        "web/dashboard.html", visitor=access.load_visitor(db), dash=data, errors=errors,
        pct=dashboard.pct, charts=_chart_texts(data.chart_data()),
        window_days=config.window_days,
    ), status  # fmt: skip


@web_blp.get("/summary")
@access.require("read", load=_db)
def summary() -> Any:
    db = _db()
    config = _config()
    today = _today(config)
    raw = (request.args.get("week") or "").strip()
    try:
        week_of = date.fromisoformat(raw) if raw else today - timedelta(weeks=1)
    except ValueError:
        week_of = today - timedelta(weeks=1)
    account = request.args.get("account", "")
    account_id = int(account) if account.isdigit() else None
    data = dashboard.build_weekly_summary(db, week_of, config, account_id)
    this_week = bucket_start(dashboard.day_start(today, config.zone), "week", config.zone).date()
    return render_template(
        "web/summary.html", visitor=access.load_visitor(db), week=data, pct=dashboard.pct,
        charts=_chart_texts(data.chart_data()), account_id=account_id,
        previous=(data.week_start - timedelta(weeks=1)).date().isoformat(),
        following=(data.week_start + timedelta(weeks=1)).date().isoformat()
        if data.week_start.date() < this_week else None,
    )  # fmt: skip


# -- the rating form -------------------------------------------------------------------------


def _rate_page(db: Session, status: int = 200, **context: Any) -> tuple[str, int]:
    context.setdefault("query", "")
    context.setdefault("results", None)
    context.setdefault("target", None)
    context.setdefault("errors", {})
    context.setdefault("form", {})
    context.setdefault("scorecard", {})
    return render_template(
        "web/rate.html", visitor=access.load_visitor(db), **context,
    ), status  # fmt: skip


@web_blp.route("/rate", methods=["GET", "POST"])
@access.require("read", "ingest", load=_db)
def rate() -> Any:
    db = _db()
    raw_id = request.values.get("contact", "")
    target = rating.customer(db, int(raw_id)) if raw_id.isdigit() else None
    if raw_id and target is None:
        return _rate_page(db, 404, errors={"customer": _("That customer no longer exists.")})
    if request.method == "GET":
        query = (request.args.get("q") or "").strip()
        results = rating.search_customers(db, query) if query else None
        scorecard = rating.scorecard_values(db, target.id) if target else {}
        return _rate_page(db, query=query, results=results, target=target, scorecard=scorecard)
    rater = access.load_visitor(db).person
    if rater is None:  # an API key is no person: ratings carry who rated
        return _rate_page(db, 403, target=target)
    if target is None:
        return _rate_page(db, 422, errors={"customer": _("Pick a customer first.")})
    try:
        rating.save_rating(request.form, target, rater.email)
    except ValidationError as exc:
        return _rate_page(
            db, 422, target=target, form=request.form, errors=rating.field_errors(exc),
            scorecard=rating.scorecard_values(db, target.id),
        )  # fmt: skip
    flash(_("Thank you: your rating is saved and will be written to the CRM."), "saved")
    return redirect(url_for("web.rate", contact=target.id))
