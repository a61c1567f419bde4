"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from connector import __version__
from connector.extensions import database, db_session
from connector.metrics import scrape_registry
from connector.readiness import check_readiness
from connector.storage import utcnow
from connector.storage.models import OutboxItem

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
    outbox = CollectorRegistry()
    outbox.register(OutboxGauges())
    body = generate_latest(scrape_registry()) + generate_latest(outbox)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


class OutboxGauges(Collector):
    """Outbox depth and the age of its oldest pending row, read from the database at scrape
    time: the same whichever process answers the scrape."""

    def collect(self) -> list[GaugeMetricFamily]:
        depth, oldest = (
            db_session()
            .execute(
                select(func.count(), func.min(OutboxItem.created_at)).where(
                    OutboxItem.processed_at.is_(None)
                )
            )
            .one()
        )
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        return [
            GaugeMetricFamily("cx360_outbox_pending", "Outbox rows not yet pushed", value=depth),
            GaugeMetricFamily(
                "cx360_outbox_oldest_pending_seconds",
                "Age of the oldest outbox row not yet pushed (0 when none)",
                value=age,
            ),
        ]
