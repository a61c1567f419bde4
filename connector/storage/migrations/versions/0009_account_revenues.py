"""account revenues: each account's closed-won revenue in the window as read from the CRM

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:45:00.000000

Safe during a rolling deploy: a new table that the previous release neither reads nor writes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connector.storage.models

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'account_revenues',
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('amount', connector.storage.models.ExactDecimal(), nullable=True),
        sa.Column('currency', sa.String(length=3), nullable=True),
        sa.Column('deals', sa.Integer(), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('read_at', connector.storage.models.UTCDateTime(timezone=True),
                  nullable=False),
        sa.CheckConstraint('deals >= 0', name=op.f('ck_account_revenues_deals_not_negative')),
        sa.CheckConstraint('currency IS NULL OR length(currency) = 3',
                           name=op.f('ck_account_revenues_currency_code')),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_account_revenues_account_id_accounts')),
        sa.PrimaryKeyConstraint('account_id', name=op.f('pk_account_revenues')),
    )


def downgrade() -> None:
    op.drop_table('account_revenues')
