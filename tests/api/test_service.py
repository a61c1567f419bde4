"""Health, readiness, metrics, OpenAPI and the docs page."""

from __future__ import annotations

from flask.testing import FlaskClient


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
