"""crm connection identity: stored CRM ids belong to one HubSpot portal / Salesforce org

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 07:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connector.storage.models

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'crm_connection',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('identity', sa.String(length=128), nullable=False),
        sa.Column('recorded_at', connector.storage.models.UTCDateTime(timezone=True),
                  nullable=False),
        sa.CheckConstraint('id = 1', name=op.f('ck_crm_connection_single_row')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_connection')),
    )
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('rematch', sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_column('rematch')
    op.drop_table('crm_connection')
