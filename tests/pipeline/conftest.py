"""Pipeline fixtures: the sandbox CRM, cx360 configured for it, real worker processes.

Backends: ``embedded`` (SQLite + the embedded Redis broker: no server) and ``production``
(the machine's PostgreSQL and Redis). Workers are real ``cx360 worker`` processes; nothing is
eager or in-thread.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from connector.app import create_app, database
from connector.broker import stop_embedded_redis
from connector.config import finish_config, load_config
from connector.storage.migrate import upgrade
from connector.sync.runs import forget_connections
from crm_sandbox import SandboxServer
from tests.conftest import service_missing, truncate_all
from tests.deployment import Deployment, DeploymentError

# A Redis database of this test process's own (10..15), so concurrent test runs on one machine
# never consume each other's tasks; CX360_TEST_REDIS_URL names another server or database.
REDIS_TEST_URL = os.environ.get(
    "CX360_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{10 + os.getpid() % 6}"
)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    folder = Path(tempfile.mkdtemp(prefix="cx360-sb-"))
    with SandboxServer(crm="both", port=0, state_dir=folder) as server:
        yield server
    shutil.rmtree(folder, ignore_errors=True)


def redis_available(url: str) -> None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at {url} ({type(exc).__name__})")


@dataclass
class Pipeline(Deployment):
    """cx360 wired to the sandbox for one CRM on one backend, reporting through pytest."""

    backend: str = "embedded"

    def headers(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key(scope)}"}

    def wait_for(
        self, condition: Callable[[], Any], timeout: float = 90.0, what: str = "", poll: float = 0.3
    ) -> Any:
        try:
            return super().wait_for(condition, timeout, what, poll)
        except DeploymentError as exc:
            pytest.fail(str(exc))


def make_pipeline(
    crm: str, backend: str, sandbox: SandboxServer, request: pytest.FixtureRequest, **overrides: Any
) -> Pipeline:
    # A short folder: the embedded broker's Unix socket path must stay under ~100 bytes.
    instance = Path(tempfile.mkdtemp(prefix="cx360-"))
    settings = sandbox.client_settings()
    config = load_config({}, dotenv_path=None)
    config.update(
        CX360_INSTANCE_PATH=str(instance),
        CX360_CRM=crm,
        CX360_SECRET_KEY="pipeline-test",
        CX360_COALESCE_SECONDS=0.2,
        CX360_RELAY_INTERVAL_SECONDS=1.0,
        CX360_OUTBOX_LEASE_SECONDS=30,
        **{k: v for k, v in settings.items() if k.startswith(("CX360_", crm.upper() + "_"))},
    )
    if backend == "production":
        redis_available(REDIS_TEST_URL)
        redis.Redis.from_url(REDIS_TEST_URL).flushdb()
        config["CX360_BROKER_URL"] = REDIS_TEST_URL
        config["CX360_DATABASE_URL"] = request.getfixturevalue("postgres_url")
        truncate_all(config["CX360_DATABASE_URL"])
    else:
        config["CX360_DATABASE_URL"] = f"sqlite:///{instance / 'cx360.db'}"
    config.update(overrides)
    config = finish_config(config)
    upgrade(config["CX360_DATABASE_URL"])
    forget_connections()
    app = create_app(config)
    pipeline = Pipeline(crm, config, sandbox, instance, app, backend=backend)

    def cleanup() -> None:
        pipeline.stop_workers()
        database(app).dispose()
        if backend == "embedded":
            stop_embedded_redis(instance)
        shutil.rmtree(instance, ignore_errors=True)

    request.addfinalizer(cleanup)
    sandbox.admin.reset()
    return pipeline
