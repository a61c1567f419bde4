"""follow-up task rejections: a task the CRM refused is recorded, not sent again

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connector.storage.models

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('follow_ups', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('rejected_at', connector.storage.models.UTCDateTime(timezone=True),
                      nullable=True)
        )
        batch_op.add_column(sa.Column('rejection', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('follow_ups', schema=None) as batch_op:
        batch_op.drop_column('rejection')
        batch_op.drop_column('rejected_at')
