"""Health, readiness, metrics, OpenAPI and the docs page."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import generate_latest

from connector.extensions import db_session
from connector.metrics import WORKER_REGISTRY
from connector.storage import utcnow
from connector.storage.models import OutboxItem


def test_given_running_app_when_probing_then_healthz_and_readyz_answer(client: FlaskClient):
    assert client.get("/healthz").json["status"] == "ok"
    ready = client.get("/readyz")
    # no worker started the embedded broker: not ready, and the answer says which part
    assert ready.status_code == 503
    checks = ready.json["checks"]
    assert checks["database"] == checks["schema"] == "ok"
    assert checks["broker"].startswith("unreachable: "), checks


def test_given_requests_when_scraping_metrics_then_counters_listed(client: FlaskClient):
    client.get("/healthz")
    text = client.get("/metrics").get_data(as_text=True)
    assert "cx360_http_requests_total" in text
    assert "cx360_items_ingested_total" in text
    # the worker's metrics are the worker's scrape (CX360_WORKER_METRICS_BIND): not listed
    # here without values
    for worker_metric in ("cx360_crm_calls_total", "cx360_task_retries_total",
                          "cx360_sync_run_seconds", "cx360_push_lag_seconds"):  # fmt: skip
        assert worker_metric not in text


def test_given_pending_outbox_rows_when_scraping_then_depth_and_oldest_age_reported(
    app: Flask, client: FlaskClient
):
    """Computed from the database at scrape time, so every process reports the same."""
    with app.app_context():
        session = db_session()
        session.add_all([
            OutboxItem(subject_type="contact", subject_id=1,
                       created_at=utcnow() - timedelta(hours=1)),
            OutboxItem(subject_type="contact", subject_id=2),
            OutboxItem(subject_type="account", subject_id=3, processed_at=utcnow(),
                       created_at=utcnow() - timedelta(days=1)),
        ])  # fmt: skip
        session.commit()
    text = client.get("/metrics").get_data(as_text=True)
    assert re.search(r"^cx360_outbox_pending 2\.0$", text, re.MULTILINE), text
    age = re.search(r"^cx360_outbox_oldest_pending_seconds (\S+)$", text, re.MULTILINE)
    assert age and 3600 <= float(age.group(1)) < 86400, text


def test_given_app_when_fetching_openapi_then_every_contract_path_documented(client: FlaskClient):
    spec = client.get("/api/openapi.json").json
    for path in (
        "/api/v1/responses",
        "/api/v1/ratings",
        "/api/v1/contacts/{key}/scorecard",
        "/api/v1/accounts/{key}/scorecard",
        "/api/v1/stats/nps",
    ):
        assert path in spec["paths"], path
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_given_no_internet_when_opening_docs_then_swagger_assets_served_locally(
    client: FlaskClient,
):
    page = client.get("/api/docs").get_data(as_text=True)
    assert "/api/docs/static/swagger-ui-bundle.js" in page
    asset = client.get("/api/docs/static/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000


def test_given_unknown_path_when_requested_then_404_in_error_shape(client: FlaskClient):
    reply = client.get("/api/v1/nothing-here")
    assert reply.status_code == 404
    assert reply.json["code"] == 404 and reply.json["status"] == "Not Found"


def test_given_grafana_dashboard_when_loaded_then_every_expression_names_a_served_metric(
    client: FlaskClient,
):
    dashboard = json.loads((Path(__file__).parents[2] / "deploy" / "grafana-dashboard.json")
                           .read_text())  # fmt: skip
    # the web's scrape, and the worker's (cx360 worker serves WORKER_REGISTRY's metrics)
    scrapes = (
        client.get("/metrics").get_data(as_text=True) + generate_latest(WORKER_REGISTRY).decode()
    )
    served = set(re.findall(r"^# TYPE (\S+) (\w+)", scrapes, re.MULTILINE))
    names = {name for name, _ in served}
    names |= {f"{name}_{part}" for name, kind in served if kind == "histogram"
              for part in ("bucket", "sum", "count")}  # fmt: skip
    names |= {f"{name}_total" for name, kind in served if kind == "counter"}
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert expressions
    for expression in expressions:
        used = set(re.findall(r"\bcx360_\w+", expression))
        assert used and used <= names, f"{expression}: {sorted(used - names)} not served"
