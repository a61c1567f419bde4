"""follow-up task lease: who may send a claimed task, and until when

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:00:00.000000

Safe during a rolling deploy: a nullable column the previous release neither reads nor writes;
a pending task without a lease is looked up in the CRM before it is sent again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connector.storage.models

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('follow_ups', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('lease_until', connector.storage.models.UTCDateTime(timezone=True),
                      nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('follow_ups', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
