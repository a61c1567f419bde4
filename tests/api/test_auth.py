"""Bearer API keys: 401 without a valid key, 403 with the wrong scope, stored hashed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from connector.app import database
from connector.storage import ApiKey

ENDPOINTS = [
    ("post", "/api/v1/responses", "ingest"),
    ("post", "/api/v1/ratings", "ingest"),
    ("get", "/api/v1/contacts/a@example.com/scorecard", "read"),
    ("get", "/api/v1/accounts/example.com/scorecard", "read"),
    ("get", "/api/v1/stats/nps", "read"),
]
OTHER_SCOPE = {"ingest": "read", "read": "ingest"}


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
@pytest.mark.parametrize(
    "header", [None, "Bearer cx360_deadbeef_nope", "Basic abc", "Bearer "], ids=str
)
def test_given_no_valid_key_when_calling_then_401(
    client: FlaskClient, method: str, path: str, scope: str, header: str | None
):
    headers = {"Authorization": header} if header else {}
    reply = getattr(client, method)(path, json={}, headers=headers)
    assert reply.status_code == 401
    assert reply.json["code"] == 401


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_given_key_of_wrong_scope_when_calling_then_403(
    client: FlaskClient, make_key: Callable[[str], dict[str, str]], method: str, path: str,
    scope: str,
):  # fmt: skip
    reply = getattr(client, method)(path, json={}, headers=make_key(OTHER_SCOPE[scope]))
    assert reply.status_code == 403
    assert scope in reply.json["message"]


def test_given_admin_key_when_reading_then_allowed(
    client: FlaskClient, make_key: Callable[[str], dict[str, str]]
):
    reply = client.get("/api/v1/stats/nps", headers=make_key("admin"))
    assert reply.status_code == 200


def test_given_created_key_when_stored_then_only_its_hash_is_in_the_database(
    app: Flask, make_key: Callable[[str], dict[str, str]]
):
    key = make_key("read")["Authorization"].removeprefix("Bearer ")
    with database(app).session() as session:
        rows = session.scalars(select(ApiKey)).all()
    assert len(rows) == 1
    stored = " ".join(str(getattr(rows[0], c.key)) for c in ApiKey.__table__.columns)
    assert key not in stored
    assert key.split("_", 2)[2] not in stored


def test_given_key_used_when_requests_follow_then_last_use_recorded_to_five_minutes(
    app: Flask, client: FlaskClient, read_headers: dict[str, str]
):
    from datetime import timedelta

    from connector.auth import find_api_key

    def last_used() -> object:
        with database(app).session() as session:
            return session.scalar(select(ApiKey.last_used_at))

    assert last_used() is None
    assert client.get("/api/v1/stats/nps", headers=read_headers).status_code == 200
    first = last_used()
    assert first is not None
    token = read_headers["Authorization"].removeprefix("Bearer ")
    with database(app).session() as session:
        grant = find_api_key(session, token, now=first + timedelta(minutes=4))  # type: ignore[operator]
        assert grant is not None and grant.scope == "read"
    assert last_used() == first, "within five minutes a use is not written again"
    later = first + timedelta(minutes=6)  # type: ignore[operator]
    with database(app).session() as session:
        assert find_api_key(session, token, now=later) is not None
    assert last_used() == later
    with database(app).session() as session:
        assert find_api_key(session, token.replace("_", "_x", 1)) is None
        assert find_api_key(session, token[:-2] + "zz") is None


def test_given_grant_cache_when_entry_ages_then_it_is_dropped_and_wrong_keys_never_kept():
    from connector.auth import GrantCache, KeyGrant

    clock = [100.0]
    cache = GrantCache(10, clock=lambda: clock[0])
    grant = KeyGrant(1, "ingest", "abcd1234", "typeform")
    cache.put("digest", grant)
    assert cache.get("digest") == grant
    clock[0] += 9.9
    assert cache.get("digest") == grant
    clock[0] += 0.2
    assert cache.get("digest") is None, "after the time given the key is looked up again"
    off = GrantCache(0)
    off.put("digest", grant)
    assert off.get("digest") is None, "0 seconds: every request looks the key up"


@pytest.mark.parametrize("cache_seconds", [0, 3600])
def test_given_key_revoked_by_cli_when_used_then_refused_within_cache_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_seconds: int
):
    from click.testing import CliRunner

    from connector.app import create_app
    from connector.cli import main

    url = f"sqlite:///{tmp_path / 'keys.db'}"  # the CLI migrates: a database it built
    monkeypatch.setenv("CX360_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    app = create_app({"CX360_DATABASE_URL": url, "CX360_INSTANCE_PATH": str(tmp_path),
                      "CX360_API_KEY_CACHE_SECONDS": cache_seconds})  # fmt: skip
    client = app.test_client()
    runner = CliRunner()
    created = runner.invoke(main, ["apikey", "create", "--scope", "read", "--name", "dash"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[0]
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/stats/nps", headers=headers).status_code == 200

    listed = runner.invoke(main, ["apikey", "list"])
    prefix = key.split("_")[1]
    assert listed.exit_code == 0 and prefix in listed.output and "dash" in listed.output
    assert key.split("_", 2)[2] not in listed.output, "a list never shows the key"
    revoked = runner.invoke(main, ["apikey", "revoke", prefix])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert "revoked" in runner.invoke(main, ["apikey", "list"]).output
    missing = runner.invoke(main, ["apikey", "revoke", "nosuchid"])
    assert missing.exit_code != 0 and "no API key with id 'nosuchid'" in missing.output

    after = client.get("/api/v1/stats/nps", headers=headers).status_code
    # within the cache time a process that checked the key still trusts it; 0 = at once
    assert after == (401 if cache_seconds == 0 else 200)
    if cache_seconds:
        from connector.auth import grant_cache

        with app.app_context():
            grant_cache().clear()  # the time is up
        assert client.get("/api/v1/stats/nps", headers=headers).status_code == 401
