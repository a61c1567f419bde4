"""Heartbeats of the service's periodic parts, stored where every process can read them.

The outbox relay (scheduled by ``cx360 beat``) records each run here; the web processes'
readiness check and ``cx360 status`` read it. In the database rather than the broker: every
process already reaches it, it outlives a broker restart, it works with any broker, and the
readiness check reads it on the connection it opens anyway. One UPDATE per relay run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from connector.storage.models import ServiceHeartbeat

RELAY = "relay"


@dataclass(frozen=True)
class Heartbeat:
    beat_at: datetime | None
    expected_since: datetime


def record_heartbeat(session: Session, name: str, now: datetime) -> None:
    """Record that ``name`` ran at ``now`` (in the caller's transaction)."""
    done = session.execute(
        update(ServiceHeartbeat).where(ServiceHeartbeat.name == name).values(beat_at=now)
    )
    if not getattr(done, "rowcount", 1):  # the row the migration seeds is gone
        session.execute(insert(ServiceHeartbeat).values(name=name, beat_at=now, expected_since=now))


def seed_heartbeats(connection: Connection, now: datetime) -> None:
    """The rows a new schema starts with (as migration 0008 seeds them): the relay is
    expected from ``now`` on."""
    connection.execute(insert(ServiceHeartbeat).values(name=RELAY, expected_since=now))


def read_heartbeat(connection: Connection, name: str) -> Heartbeat | None:
    row = connection.execute(
        select(ServiceHeartbeat.beat_at, ServiceHeartbeat.expected_since).where(
            ServiceHeartbeat.name == name
        )
    ).first()
    return Heartbeat(row.beat_at, row.expected_since) if row else None
