"""failed logins for the login rate limit; trigram indexes for the data pages' search

Revision ID: 0003
Revises: 0002

The trigram indexes (and the pg_trgm extension they need) are PostgreSQL only: SQLite, the
embedded database, has no such index and searches small tables by scan. CREATE INDEX (not
CONCURRENTLY: migrations run in one transaction) blocks writes to work_items and pull_requests
while it builds, seconds per million rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.schema.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# index → (table, column) searched with ILIKE by storage.repositories.browse
_TRIGRAM = {
    "ix_work_items_key_trgm": ("work_items", "key"),
    "ix_work_items_summary_trgm": ("work_items", "summary"),
    "ix_pull_requests_title_trgm": ("pull_requests", "title"),
    "ix_pull_requests_repository_full_name_trgm": ("pull_requests", "repository_full_name"),
}


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("failed_at", storage.schema.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index(
        "ix_login_failures_key", "login_failures", ["email", "client_address", "failed_at"]
    )
    op.create_index(op.f("ix_login_failures_failed_at"), "login_failures", ["failed_at"])
    if _postgresql():
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, (table, column) in _TRIGRAM.items():
            op.create_index(
                name,
                table,
                [column],
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            )


def downgrade() -> None:
    if _postgresql():
        # The extension stays: it holds no data, and something else may use it.
        for name, (table, _) in _TRIGRAM.items():
            op.drop_index(name, table_name=table)
    op.drop_index(op.f("ix_login_failures_failed_at"), table_name="login_failures")
    op.drop_index("ix_login_failures_key", table_name="login_failures")
    op.drop_table("login_failures")
