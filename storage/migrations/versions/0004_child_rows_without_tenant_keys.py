"""Child rows of facts lose their tenant and integration foreign keys; facts get children_hash

The parent's foreign key already cascades a tenant's deletion to them, and the two extra
checks on every transition, sprint membership, PR commit, review and comment cost about half
of the loader's largest COPY. `children_hash` lets a rewrite with unchanged children (most of a
replay after a mapping change) leave them in place.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CHILDREN = ("work_item_transitions", "work_item_sprints", "pr_commits", "pr_reviews", "pr_comments")
FACTS = ("work_items", "pull_requests")
KEYS = (("tenant_id", "tenants"), ("integration_id", "integrations"))


def upgrade() -> None:
    for name in CHILDREN:
        with op.batch_alter_table(name) as batch:
            for column, referred in KEYS:
                batch.drop_constraint(f"fk_{name}_{column}_{referred}", type_="foreignkey")
    for name in FACTS:
        with op.batch_alter_table(name) as batch:
            batch.add_column(sa.Column("children_hash", sa.String(length=32), nullable=True))


def downgrade() -> None:
    for name in FACTS:
        with op.batch_alter_table(name) as batch:
            batch.drop_column("children_hash")
    for name in CHILDREN:
        with op.batch_alter_table(name) as batch:
            for column, referred in KEYS:
                batch.create_foreign_key(
                    f"fk_{name}_{column}_{referred}",
                    referred,
                    [column],
                    ["id"],
                    ondelete="CASCADE",
                )
