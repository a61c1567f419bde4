"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from connector import __version__
from connector.extensions import database
from connector.metrics import scrape_registry
from connector.readiness import check_readiness
from connector.storage import utcnow

health_blp = Blueprint("health", __name__)


@health_blp.get("/healthz")
def healthz() -> Response:
    """The process answers (liveness: nothing else is checked, so a database or broker outage
    never makes a supervisor restart healthy web processes)."""
    return jsonify(status="ok", version=__version__)


@health_blp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """The deployment can do its work: database reachable and its schema current, broker
    reachable, the outbox relay running (``connector.readiness``); 503 with the reasons."""
    readiness = check_readiness(current_app.config, database(),
                                current_app.extensions["celery"].conf.broker_url,
                                now=utcnow())  # fmt: skip
    return jsonify(readiness.as_json()), 200 if readiness.ready else 503


@health_blp.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics; under ``cx360 serve`` those of all its processes added up."""
    return Response(generate_latest(scrape_registry()), mimetype=CONTENT_TYPE_LATEST)
