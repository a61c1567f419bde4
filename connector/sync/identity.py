"""Record identity: the CRM ids cx360 stores belong to one CRM connection.

A HubSpot record id is only meaningful in its portal, a Salesforce id only in its org. cx360
records which connection its ids came from (``CrmConnection``: ``hubspot:<portal id>`` or
``salesforce:<org id>``, read with the access cx360 already has). When the configured
connection answers with another identity, no push writes anything (``ConnectionChanged``)
until an operator runs ``cx360 sync --rematch``: that forgets every stored CRM id, what was
last written and the follow-up tasks' ids, records the new identity, and pushes everyone again,
resolving them by email / domain.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from connector.crm.errors import FatalCrmError
from connector.crm.types import CheckFinding, CrmAdapter
from connector.storage import Account, Contact, CrmConnection, FollowUp, Scorecard
from connector.storage.bulk import upsert_insert

REMATCH_COMMAND = "cx360 sync --rematch"


class ConnectionChanged(FatalCrmError):
    """The configured CRM is another portal / org than the one the stored ids came from."""

    def __init__(self, stored: str, current: str) -> None:
        super().__init__(
            f"the CRM connection changed: cx360's stored CRM ids belong to {stored}, the "
            f"configured CRM is {current}; nothing was written. Run `{REMATCH_COMMAND}` to "
            "forget the old ids and match everyone again by email / domain",
            kind="config",
            code="CONNECTION_CHANGED",
        )
        self.stored, self.current = stored, current


def stored_identity(session: Session) -> str | None:
    return session.scalar(select(CrmConnection.identity).where(CrmConnection.id == 1))


def identity_mismatch(session: Session, current: str) -> ConnectionChanged | None:
    """The error to raise when ids were stored for another connection than ``current``."""
    stored = stored_identity(session)
    return ConnectionChanged(stored, current) if stored and stored != current else None


def verify_connection(session: Session, adapter: CrmAdapter, *, now: datetime) -> None:
    """Raise ``ConnectionChanged`` unless the stored ids belong to ``adapter``'s connection.

    The first push of a database records the connection it writes to.
    """
    current = adapter.connection_identity()
    if stored_identity(session) is None:
        insert = upsert_insert(session, CrmConnection).values(
            id=1, identity=current, recorded_at=now
        )
        session.execute(insert.on_conflict_do_nothing(index_elements=["id"]))
        session.commit()
    mismatch = identity_mismatch(session, current)
    if mismatch is not None:
        raise mismatch


def rematch(session: Session, adapter: CrmAdapter, *, now: datetime) -> str:
    """Forget every stored CRM id and what was written, bind the database to ``adapter``'s
    connection; returns its identity. The caller then pushes everyone (a full sync), which
    resolves each contact by email and each account by domain.

    Follow-up task rows go too: their payloads name records of the old connection, and a
    current detractor gets its task in the new CRM on the next push.
    """
    current = adapter.connection_identity()
    session.execute(update(Contact).values(crm_id=None, crm_owner_id=None))
    session.execute(update(Account).values(crm_id=None))
    session.execute(update(Scorecard).values(written=None, written_at=None))
    session.execute(delete(FollowUp))
    insert = upsert_insert(session, CrmConnection).values(id=1, identity=current, recorded_at=now)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["id"], set_={"identity": current, "recorded_at": now}
        )
    )
    session.commit()
    return current


def connection_finding(database_url: str, adapter: CrmAdapter) -> CheckFinding:
    """``cx360 check``'s line on record identity: do the stored ids belong to this CRM?"""
    from sqlalchemy.exc import SQLAlchemyError

    from connector.storage import Database

    current = adapter.connection_identity()
    database = Database(database_url)
    try:
        with database.session() as session:
            mismatch = identity_mismatch(session, current)
    except SQLAlchemyError:
        return CheckFinding("identity", "ok", f"connected to {current} (no stored CRM ids yet)")
    finally:
        database.dispose()
    if mismatch is not None:
        return CheckFinding(
            "identity", "error",
            f"the stored CRM ids belong to {mismatch.stored}, but the configured CRM is "
            f"{current}: pushes write nothing until you run `{REMATCH_COMMAND}`",
        )  # fmt: skip
    return CheckFinding(
        "identity", "ok", f"connected to {current}; the stored CRM ids belong to it"
    )
