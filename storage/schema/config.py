"""A tenant's configuration: integrations and the mapping rules the transform applies.

Mapping tables are tenant-wide when `integration_id` is NULL and integration-specific otherwise;
uniqueness treats NULL as "all integrations" through `coalesce(integration_id, 0)` indexes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.schema.base import Base, BigId, IdMixin, TenantMixin, TimestampMixin

PROVIDERS = ("jira", "github", "embedding")
STEP_CATEGORIES = ("to_do", "in_progress", "waiting", "done", "discarded")
SPECIAL_SLOTS = ("team", "sprints", "story_points", "development")
CUSTOM_SLOTS = tuple(f"custom_{n:02d}" for n in range(1, 21))
FIELD_SLOTS = SPECIAL_SLOTS + CUSTOM_SLOTS


def _integration_scope() -> Any:
    return func.coalesce(text("integration_id"), 0)


class Integration(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "integrations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint(f"provider IN {PROVIDERS!r}", name="provider"),
    )

    name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(16))
    base_url: Mapped[str | None] = mapped_column(String(500))
    # Fernet token of a JSON object; never leaves the process unencrypted except to the client.
    credentials_encrypted: Mapped[str | None] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class WitHierarchy(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "wit_hierarchies"
    __table_args__ = (
        UniqueConstraint("tenant_id", "level_number"),
        UniqueConstraint("tenant_id", "name"),
    )

    level_number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class WitMapping(IdMixin, TenantMixin, TimestampMixin, Base):
    """Source issue type name (matched case-insensitively) → canonical type and hierarchy."""

    __tablename__ = "wit_mappings"
    __table_args__ = (
        Index(
            "uq_wit_mappings_source",
            "tenant_id",
            _integration_scope(),
            "source_key",
            unique=True,
        ),
    )

    integration_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("integrations.id", ondelete="CASCADE")
    )
    source_name: Mapped[str] = mapped_column(String(200))
    source_key: Mapped[str] = mapped_column(String(200))  # casefolded source_name
    canonical_type: Mapped[str] = mapped_column(String(100))
    hierarchy_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("wit_hierarchies.id", ondelete="RESTRICT"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Workflow(IdMixin, TenantMixin, TimestampMixin, Base):
    """One ordered workflow step. A tenant's steps, in `step_order`, form its workflow."""

    __tablename__ = "workflows"
    __table_args__ = (
        Index("uq_workflows_step", "tenant_id", _integration_scope(), "step_name", unique=True),
        Index(
            "uq_workflows_commitment_point",
            "tenant_id",
            _integration_scope(),
            unique=True,
            postgresql_where=text("is_commitment_point"),
            sqlite_where=text("is_commitment_point"),
        ),
        CheckConstraint(f"category IN {STEP_CATEGORIES!r}", name="category"),
    )

    integration_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("integrations.id", ondelete="CASCADE")
    )
    step_name: Mapped[str] = mapped_column(String(100))
    step_order: Mapped[int | None] = mapped_column(Integer)  # NULL: outside the flow (Discarded)
    category: Mapped[str] = mapped_column(String(16))
    is_commitment_point: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class StatusMapping(IdMixin, TenantMixin, TimestampMixin, Base):
    """Source status name (matched case-insensitively) → workflow step."""

    __tablename__ = "status_mappings"
    __table_args__ = (
        Index(
            "uq_status_mappings_source",
            "tenant_id",
            _integration_scope(),
            "source_key",
            unique=True,
        ),
    )

    integration_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("integrations.id", ondelete="CASCADE")
    )
    source_name: Mapped[str] = mapped_column(String(200))
    source_key: Mapped[str] = mapped_column(String(200))
    workflow_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("workflows.id", ondelete="RESTRICT"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CustomFieldMapping(IdMixin, TenantMixin, TimestampMixin, Base):
    """Which source field fills a slot: the special fields, or custom_01..custom_20."""

    __tablename__ = "custom_field_mappings"
    __table_args__ = (
        UniqueConstraint("tenant_id", "integration_id", "slot"),
        CheckConstraint(f"slot IN {FIELD_SLOTS!r}", name="slot"),
    )

    integration_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("integrations.id", ondelete="CASCADE")
    )
    slot: Mapped[str] = mapped_column(String(32))
    field_external_id: Mapped[str] = mapped_column(String(200))  # e.g. customfield_10016
    label: Mapped[str | None] = mapped_column(String(200))
