"""The one-beat-per-deployment lock of ``cx360 beat``.

Two beats would relay the outbox twice as often and run the revenue refresh twice, so
``cx360 beat`` holds a lock for as long as it runs; a second beat waits as a standby and takes
over when the holder stops. The lock must be released when its holder dies, even by
``kill -9`` or a machine crash, or the standby would wait forever:

- PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a dedicated connection. The
  server releases it when the session ends, so a dead process (or host) frees it as soon as its
  connection is gone; it works across hosts, which a file lock cannot, and needs nothing beyond
  the database every cx360 process already uses. If the lock's connection breaks, the beat can
  no longer prove it is the only one, so it stops (``lost``) and its supervisor restarts it.
- SQLite (one host by definition): an ``fcntl`` lock on ``beat.lock`` in the instance folder,
  which the kernel releases when the process dies.

A Redis lock with a renewed TTL was not chosen: a paused holder loses it while still running
(two beats until the TTL notices), and the embedded Redis lives and dies with cx360 processes.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

# pg_advisory_lock key: "cx360bt" as a number, so other applications' keys do not collide
ADVISORY_KEY = int.from_bytes(b"cx360bt", "big")
WATCH_SECONDS = 10.0


class BeatLock(Protocol):
    description: str

    def try_acquire(self) -> bool: ...

    def watch(self, lost: Callable[[], None]) -> None: ...


class PostgresBeatLock:
    def __init__(self, database_url: str) -> None:
        self.engine = create_engine(database_url, poolclass=NullPool)
        self.connection: Connection | None = None
        self.description = f"PostgreSQL advisory lock {ADVISORY_KEY} on {make_url(database_url)!r}"

    def try_acquire(self) -> bool:
        try:
            if self.connection is None:
                self.connection = self.engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT"
                )
            query = text("SELECT pg_try_advisory_lock(:key)")
            return bool(self.connection.execute(query, {"key": ADVISORY_KEY}).scalar())
        except SQLAlchemyError:
            self.connection = None  # the database is away: try again on the next round
            return False

    def watch(self, lost: Callable[[], None]) -> None:
        """Call ``lost`` once when the lock's connection stops answering."""

        def check() -> None:
            connection = self.connection
            while connection is not None:
                time.sleep(WATCH_SECONDS)
                try:
                    connection.execute(text("SELECT 1"))
                except SQLAlchemyError:
                    lost()
                    return

        threading.Thread(target=check, name="cx360-beat-lock-watch", daemon=True).start()


class FileBeatLock:
    def __init__(self, instance_path: str) -> None:
        self.path = Path(instance_path) / "beat.lock"
        self.handle: IO[str] | None = None
        self.description = f"file lock {self.path.name} in the instance folder"

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a")  # noqa: SIM115 - held open for the life of the process
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self.handle = handle
        return True

    def watch(self, lost: Callable[[], None]) -> None:
        """A kernel file lock cannot be lost while the process lives."""


def beat_lock(database_url: str, instance_path: str) -> BeatLock:
    if make_url(database_url).get_backend_name() == "postgresql":
        return PostgresBeatLock(database_url)
    return FileBeatLock(instance_path)
