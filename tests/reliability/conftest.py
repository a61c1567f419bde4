"""Reliability fixtures: the pipeline harness's sandbox, and private Redis/PostgreSQL servers.

The machine's PostgreSQL and Redis are shared with other test runs: tests that restart a
server start their own on a free loopback port under a temp dir, and kill only that.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import IN_CI, service_missing
from tests.pipeline.conftest import sandbox
from tests.reliability.harness import PrivatePostgres, PrivateRedis

__all__ = ["private_postgres", "private_redis", "sandbox"]


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    try:
        server.start()
    except (OSError, ImportError, TimeoutError) as exc:
        server.close()
        service_missing(f"a private redis-server ({exc})")
    yield server
    server.close()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.init()
        server.start()
    except Exception as exc:  # no binaries, no postgres user, initdb refused...
        server.close()
        detail = getattr(exc, "stderr", b"") or b""
        message = f"a private PostgreSQL cluster ({exc}; {detail.decode(errors='replace')[-300:]})"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        service_missing(message)
    yield server
    server.close()
