"""service heartbeats: the relay's last run (readiness) and running sync runs' leases

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:40:00.000000

Safe during a rolling deploy: a new table, a nullable column and an index; the previous
release neither reads nor writes them.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import connector.storage.models

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'service_heartbeats',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('beat_at', connector.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('expected_since', connector.storage.models.UTCDateTime(timezone=True),
                  nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_service_heartbeats')),
    )
    heartbeats = sa.table('service_heartbeats', sa.column('name', sa.String()),
                          sa.column('expected_since', connector.storage.models.UTCDateTime()))
    op.bulk_insert(heartbeats, [{'name': 'relay',
                                 'expected_since': datetime.now(UTC)}])
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('heartbeat_at', connector.storage.models.UTCDateTime(timezone=True),
                      nullable=True)
        )
        batch_op.create_index(
            'ix_sync_runs_running', ['heartbeat_at'], unique=False,
            postgresql_where=sa.text("status = 'running'"),
            sqlite_where=sa.text("status = 'running'"),
        )


def downgrade() -> None:
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_runs_running',
                            postgresql_where=sa.text("status = 'running'"),
                            sqlite_where=sa.text("status = 'running'"))
        batch_op.drop_column('heartbeat_at')
    op.drop_table('service_heartbeats')
