"""Security: every /api/v1 operation needs a key of the right scope; keys are stored hashed,
CRM secrets encrypted; a full run logs no API key, CRM token or secret, or customer email.

The operations come from the app's own OpenAPI document, so an endpoint added later is
checked without touching this file, and one that forgets ``protect(...)`` fails here.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from connector.auth import GRANTS, SCOPES, create_api_key, hash_key
from connector.crm.errors import FatalCrmError
from connector.crm.secrets import store_secret, stored_secret
from connector.webhooks.signatures import sign_standard_webhook
from tests.pipeline.conftest import Pipeline, make_pipeline
from tests.reliability.harness import make_load, pending_outbox

METHODS = ("get", "post", "put", "patch", "delete")
BOGUS_KEYS = (None, "Bearer cx360_deadbeef_not-a-key", "Basic YWRtaW46YWRtaW4=", "Bearer ")


def api_operations(client: FlaskClient) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, concrete path, operation) for every /api/v1 operation of the OpenAPI spec."""
    spec = client.get("/api/openapi.json").get_json()
    found = []
    for template, item in spec["paths"].items():
        if not template.startswith("/api/v1/"):
            continue
        for method in METHODS:
            if method not in item:
                continue
            params = item.get("parameters", []) + item[method].get("parameters", [])
            path = template
            for param in params:
                if param["in"] == "path":
                    schema = param.get("schema", {})
                    value = "1" if schema.get("type") == "integer" else "nobody@example.com"
                    path = path.replace("{" + param["name"] + "}", value)
            assert "{" not in path, f"unfilled path parameter in {template}"
            found.append((method, path, item[method]))
    return found


def call(client: FlaskClient, method: str, path: str, authorization: str | None) -> Any:
    """The request with a body that is not valid JSON: nothing can be stored or started, so
    a key that passes the scope check meets a 4xx from the input parsing instead."""
    headers = {"Authorization": authorization} if authorization else {}
    return client.open(path, method=method.upper(), headers=headers, data="{not json",
                       content_type="application/json")  # fmt: skip


@pytest.mark.postgres
def test_given_openapi_spec_when_calling_every_api_v1_operation_without_a_valid_key_then_401(
    client: FlaskClient,
):
    operations = api_operations(client)
    wrong = [
        f"{method.upper()} {path} with {header!r}: {reply.status_code}"
        for method, path, _ in operations
        for header in BOGUS_KEYS
        if (reply := call(client, method, path, header)).status_code != 401
        or reply.get_json().get("code") != 401
    ]

    assert len(operations) >= 10, "the spec lost operations"
    assert not wrong, "operations that did not refuse a missing/invalid key:\n" + "\n".join(wrong)


@pytest.mark.postgres
def test_given_openapi_spec_when_calling_every_api_v1_operation_with_each_scope_then_wrong_ones_403(
    client: FlaskClient, make_key: Callable[[str], dict[str, str]]
):
    keys = {scope: make_key(scope)["Authorization"] for scope in SCOPES}
    operations = api_operations(client)
    problems: list[str] = []
    needs: dict[str, str] = {}
    for method, path, operation in operations:
        name = f"{method.upper()} {path}"
        if operation.get("security") != [{"bearerAuth": []}]:
            problems.append(f"{name}: the spec does not document bearerAuth")
        status = {scope: call(client, method, path, keys[scope]) for scope in SCOPES}
        accepted = {s for s, reply in status.items() if reply.status_code not in (401, 403)}
        refused = {s for s, reply in status.items() if reply.status_code == 403}
        if set(SCOPES) - accepted - refused:
            problems.append(f"{name}: a valid key answered 401 ({status})")
        # The one scope a blueprint's protect(...) names is granted by itself and by admin.
        granting = [s for s in SCOPES if accepted == {g for g in SCOPES if s in GRANTS[g]}]
        if len(granting) != 1:
            codes = {s: r.status_code for s, r in status.items()}
            problems.append(f"{name}: no single scope explains who is let in ({codes})")
            continue
        needs[name] = granting[0]
        for scope in refused:
            message = status[scope].get_json().get("message", "")
            if granting[0] not in message:
                problems.append(f"{name}: the 403 for {scope} does not name {granting[0]!r}")

    assert len(operations) >= 10, "the spec lost operations"
    assert not problems, "\n".join(problems)
    # each operation has its one scope; ingest and read keys are kept apart (admin has all)
    assert len(needs) == len(operations) and set(needs.values()) == set(SCOPES), needs


@pytest.mark.postgres
def test_given_created_keys_when_reading_api_keys_table_raw_then_only_hashes_are_stored(
    app: Flask, database_url: str
):
    from connector.app import database

    keys = []
    with database(app).session() as session:
        for scope in SCOPES:
            keys.append(create_api_key(session, scope, f"raw {scope}")[1])
    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(text("SELECT * FROM api_keys"))]
    engine.dispose()
    dump = json.dumps(rows, default=str)

    assert len(rows) == len(SCOPES)
    for key in keys:
        secret_part = key.split("_", 2)[2]
        assert key not in dump and secret_part not in dump
    assert sorted(r["key_hash"] for r in rows) == sorted(hash_key(k) for k in keys)


@pytest.mark.postgres
def test_given_stored_crm_secret_when_reading_table_raw_then_encrypted_and_only_right_key_reads(
    app: Flask, database_url: str
):
    config = {"CX360_DATABASE_URL": database_url, "CX360_SECRET_KEY": "the-right-key"}
    plaintext = "pat-na1-0a1b2c3d-secret-token-value"
    store_secret(config, "HUBSPOT_ACCESS_TOKEN", plaintext)
    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(text("SELECT * FROM stored_secrets"))]
    engine.dispose()
    dump = json.dumps(rows, default=str)

    assert [r["name"] for r in rows] == ["HUBSPOT_ACCESS_TOKEN"]
    assert plaintext not in dump and "secret-token" not in dump
    assert stored_secret(config, "HUBSPOT_ACCESS_TOKEN") == plaintext
    with pytest.raises(FatalCrmError) as refused:
        stored_secret({**config, "CX360_SECRET_KEY": "a-wrong-key"}, "HUBSPOT_ACCESS_TOKEN")
    assert plaintext not in str(refused.value)


# ----------------------------------------------------------------------------- logs of a full run
WEBHOOK_SECRET = "whsec_Y3gzNjAtc2VjdXJpdHktbG9nLXRlc3Qta2V5ISEhISE="
EMPLOYEE = "rita.rater@example.com"
UNMATCHED = "not.in.crm@example.com"
SALESFORCE_TOKEN = re.compile(r"00D5g000004sBox![\w-]+")  # what the sandbox issues


def full_run(pipeline: Pipeline, emails: list[str]) -> list[str]:
    """Install, ingest (REST and webhook), push through the worker, a sync, a dry run and an
    erasure via the API. Returns every API key created."""
    pipeline.install()
    headers = {scope: pipeline.headers(scope) for scope in SCOPES}
    client = pipeline.app.test_client()
    answered = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    responses = [{"kind": "nps", "score": n % 11, "email": e, "comment": f"note from {e}",
                  "source": "security", "external_id": f"s-{n}", "answered_at": answered}
                 for n, e in enumerate([*emails[:-1], UNMATCHED])]  # fmt: skip
    reply = client.post("/api/v1/responses", json={"responses": responses},
                        headers=headers["ingest"])  # fmt: skip
    assert reply.status_code == 200, reply.get_json()
    ratings = [{"employee": EMPLOYEE, "email": e, "relationship": 3, "potential": 9,
                "rated_at": answered} for e in emails[:3]]  # fmt: skip
    reply = client.post("/api/v1/ratings", json={"ratings": ratings}, headers=headers["admin"])
    assert reply.status_code == 200, reply.get_json()
    body = json.dumps({"kind": "csat", "score": 2, "email": emails[-1],
                       "answered_at": answered}).encode()  # fmt: skip
    stamp = int(datetime.now(UTC).timestamp())
    reply = client.post("/webhooks/generic", data=body, content_type="application/json", headers={
        "webhook-id": "msg_security", "webhook-timestamp": str(stamp),
        "webhook-signature": sign_standard_webhook("msg_security", stamp, body, WEBHOOK_SECRET),
    })  # fmt: skip
    assert reply.status_code == 200, reply.get_json()
    for read in (f"/api/v1/contacts/{emails[0]}/scorecard", "/api/v1/unmatched"):
        assert client.get(read, headers=headers["read"]).status_code == 200
    assert client.get("/api/v1/stats/nps").status_code == 401  # a refused call is logged too

    pipeline.start_worker()
    pipeline.wait_for(lambda: pending_outbox(pipeline.app) == 0, what="the outbox to drain")
    reply = client.post("/api/v1/syncs", json={"full": True}, headers=headers["admin"])
    assert reply.status_code == 202, reply.get_json()
    run = reply.get_json()["id"]

    def finished() -> bool:
        state = client.get(f"/api/v1/syncs/{run}", headers=headers["admin"]).get_json()
        return state["status"] not in ("queued", "running")

    pipeline.wait_for(finished, what="the API-requested sync")
    reply = client.post("/api/v1/syncs", json={"dry_run": True, "full": True},
                        headers=headers["admin"])  # fmt: skip
    assert reply.status_code == 202 and reply.get_json()["dry_run"], reply.get_json()
    reply = client.delete(f"/api/v1/people/{emails[1]}", headers=headers["admin"])  # erasure
    assert reply.status_code == 200, reply.get_json()
    pipeline.stop_workers()  # flushes the worker's log
    return [h["Authorization"].removeprefix("Bearer ") for h in headers.values()]


@pytest.mark.integration
@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_full_run_when_reading_info_logs_then_no_key_token_secret_or_email(
    sandbox: Any, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture, crm: str
):
    caplog.set_level(logging.INFO)
    pipeline = make_pipeline(crm, "embedded", sandbox, request,
                             CX360_WEBHOOK_SECRETS=WEBHOOK_SECRET)  # fmt: skip
    load = make_load(sandbox, crm, 6, accounts=2)

    keys = full_run(pipeline, load.emails)

    app_log = "\n".join(
        f"{r.levelname} {r.name}: {r.getMessage()} {r.exc_text or ''}"
        for r in caplog.records
        if r.levelno >= logging.INFO
    )
    worker_log = "\n".join(p.read_text(errors="replace")
                           for p in sorted(pipeline.instance.glob("worker-*.log")))  # fmt: skip
    assert "succeeded" in worker_log or "Task" in worker_log, "the worker logged nothing"
    assert app_log, "the app logged nothing at INFO"
    secrets = {f"API key {k[:14]}...": k for k in keys}
    secrets |= {f"its secret part {k[:14]}...": k.split("_", 2)[2] for k in keys}
    secrets |= {name: str(pipeline.config[name]) for name in (
        "HUBSPOT_ACCESS_TOKEN", "SALESFORCE_CLIENT_SECRET", "CX360_WEBHOOK_SECRETS",
        "CX360_SECRET_KEY") if pipeline.config.get(name)}  # fmt: skip
    secrets |= {f"email {e}": e for e in [*load.emails, EMPLOYEE, UNMATCHED]}
    secrets |= {"the HubSpot sandbox token": "sandbox-hubspot-token"}
    for where, text_ in (("app", app_log), ("worker", worker_log)):
        leaked = [what for what, value in secrets.items() if value.lower() in text_.lower()]
        if token := SALESFORCE_TOKEN.search(text_):
            leaked.append(f"a Salesforce access token {token.group()[:20]}...")
        context = [line for line in text_.splitlines()
                   if any(v.lower() in line.lower() for v in secrets.values())][:5]  # fmt: skip
        assert not leaked, f"the {where} log shows {leaked}; e.g. {context}"
