"""single-item store functions (PostgreSQL)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

from connector.storage import procedures

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    procedures.install(op.get_bind())


def downgrade() -> None:
    procedures.uninstall(op.get_bind())
