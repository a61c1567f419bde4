"""The Flask application factory."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request, send_from_directory
from flask_smorest import Api
from swagger_ui_bundle import swagger_ui_path

from connector import __version__, extensions, logs
from connector.api import API_BLUEPRINTS, PLAIN_BLUEPRINTS
from connector.api.errors import register_error_handlers
from connector.celery_app import init_celery
from connector.config import ConfigError, finish_config, load_config
from connector.extensions import database, db_session
from connector.logs import REQUEST_ID_HEADER, request_id_from
from connector.metrics import HTTP_LATENCY, HTTP_REQUESTS
from connector.web import web_blp
from connector.webhooks.views import webhooks_blp

# ``database`` and ``db_session`` live in connector.extensions; scripts and tests that import
# them from here keep working.
__all__ = ["create_app", "database", "db_session"]

log = logging.getLogger(__name__)

API_DESCRIPTION = """cx360 takes NPS and CSAT survey results and employee ratings of customers,
computes scorecards and writes them onto CRM contacts and accounts.

Authenticate with `Authorization: Bearer <key>`; create keys with
`cx360 apikey create --scope ingest|read|admin`. Every error has the same JSON shape:
`{"code", "status", "message", "errors"}`."""


def _secret_key(config: Mapping[str, Any]) -> str:
    """CX360_SECRET_KEY, or, with the embedded SQLite database only, one generated once and
    kept in the instance folder. A shared database means several servers, which must sign
    sessions with one key: there it must be set."""
    if config.get("CX360_SECRET_KEY"):
        return str(config["CX360_SECRET_KEY"])
    if not str(config["CX360_DATABASE_URL"]).startswith("sqlite"):
        raise ConfigError(
            "CX360_SECRET_KEY (or CX360_SECRET_KEY_FILE) must be set when CX360_DATABASE_URL "
            "is not the embedded SQLite: every web server must sign sessions with the same key"
        )
    path = Path(config["CX360_INSTANCE_PATH"]) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    config = load_config()
    if test_config:
        config.update(test_config)
        config = finish_config(config)
    app = Flask(__name__, instance_path=config["CX360_INSTANCE_PATH"])
    app.config.update(config)
    app.config.update(
        SECRET_KEY=_secret_key(config),
        MAX_CONTENT_LENGTH=int(config["CX360_MAX_BODY_BYTES"]),
        API_TITLE="cx360",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/api/docs/static/",
        API_SPEC_OPTIONS={
            "info": {"description": API_DESCRIPTION},
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        },
        JSON_SORT_KEYS=False,
    )
    if test_config:
        app.config.update({k: v for k, v in test_config.items() if not k.startswith("CX360_")})

    extensions.init_app(app)

    api = Api(app)
    register_error_handlers(app)
    for blueprint in API_BLUEPRINTS:
        api.register_blueprint(blueprint)
    for plain in PLAIN_BLUEPRINTS:
        app.register_blueprint(plain)
    app.register_blueprint(webhooks_blp)
    app.register_blueprint(web_blp)

    init_celery(app)
    _serve_swagger_ui_assets(app)
    _instrument(app)
    return app


def _serve_swagger_ui_assets(app: Flask) -> None:
    # The docs page must work without internet: Swagger UI's files come from a package.
    @app.get("/api/docs/static/<path:filename>")
    def swagger_ui_asset(filename: str) -> Response:
        return send_from_directory(str(swagger_ui_path), filename, max_age=86400)


def _instrument(app: Flask) -> None:
    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()
        # every log line of the request names it; the client or proxy may choose the id
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        g.request_id_token = logs.request_id.set(g.request_id)

    @app.teardown_request
    def _forget_request_id(_error: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            logs.request_id.reset(token)

    @app.after_request
    def _count(response: Response) -> Response:
        if "request_id" in g:
            response.headers[REQUEST_ID_HEADER] = g.request_id
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        HTTP_REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        started = g.get("request_started")
        if started is not None:
            HTTP_LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        return response
