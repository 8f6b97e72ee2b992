"""repositories.database_id holds GitHub's numeric ids, which pass 2**31

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repositories") as batch:
        batch.alter_column(
            "database_id", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=True
        )


def downgrade() -> None:
    with op.batch_alter_table("repositories") as batch:
        batch.alter_column(
            "database_id", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=True
        )
