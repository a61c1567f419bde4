"""cx360_write_outbox in PL/pgSQL, so its plan is kept (PostgreSQL)

A ``LANGUAGE sql`` function that cannot be inlined is parsed and planned on every call; as
PL/pgSQL its INSERT is planned once per session. Same arguments, same rows written.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 05:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

from connector.storage import procedures

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The function as revision 0004 created it, for downgrade.
SQL_LANGUAGE_OUTBOX = """
CREATE OR REPLACE FUNCTION cx360_write_outbox(
    p_contacts integer[], p_accounts integer[], p_now timestamptz, p_reason text DEFAULT 'ingest'
) RETURNS void LANGUAGE sql AS $$
    INSERT INTO outbox (subject_type, subject_id, reason, created_at, available_at, attempts)
    SELECT subject_type, subject_id, p_reason, p_now, p_now, 0
    FROM (
        SELECT DISTINCT 'contact' AS subject_type, 1 AS rank, id AS subject_id
        FROM unnest(p_contacts) AS id WHERE id IS NOT NULL
        UNION
        SELECT DISTINCT 'account', 2, id FROM unnest(p_accounts) AS id WHERE id IS NOT NULL
    ) subjects
    ORDER BY rank, subject_id
$$;
"""


def upgrade() -> None:
    procedures.install(op.get_bind())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(SQL_LANGUAGE_OUTBOX)
