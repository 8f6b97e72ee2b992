"""The source catalog: what the tenant's Jira sites and GitHub organisations contain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.schema.base import (
    Base,
    IdMixin,
    IntegrationMixin,
    JsonDoc,
    TimestampMixin,
    UTCDateTime,
    VersionedMixin,
)


def _natural_key(table: str) -> UniqueConstraint:
    return UniqueConstraint("tenant_id", "integration_id", "external_id", name=f"uq_{table}_key")


class Project(IdMixin, IntegrationMixin, VersionedMixin, TimestampMixin, Base):
    __tablename__ = "projects"
    __table_args__ = (_natural_key("projects"),)

    external_id: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))
    project_type: Mapped[str | None] = mapped_column(String(100))


class WorkItemType(IdMixin, IntegrationMixin, VersionedMixin, TimestampMixin, Base):
    __tablename__ = "work_item_types"
    __table_args__ = (_natural_key("work_item_types"),)

    external_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    subtask: Mapped[bool] = mapped_column(Boolean, default=False)
    source_hierarchy_level: Mapped[int | None] = mapped_column(Integer)
    # Resolved through wit_mappings at transform time; NULL while unmapped.
    canonical_type: Mapped[str | None] = mapped_column(String(100))
    hierarchy_level: Mapped[int | None] = mapped_column(Integer)


class Status(IdMixin, IntegrationMixin, VersionedMixin, TimestampMixin, Base):
    __tablename__ = "statuses"
    __table_args__ = (_natural_key("statuses"),)

    external_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    category_key: Mapped[str | None] = mapped_column(String(32))  # Jira: new|indeterminate|done
    category_name: Mapped[str | None] = mapped_column(String(100))
    project_keys: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    # Resolved through status_mappings at transform time; NULL while unmapped.
    workflow_step: Mapped[str | None] = mapped_column(String(100))
    step_category: Mapped[str | None] = mapped_column(String(16))


class CustomField(IdMixin, IntegrationMixin, VersionedMixin, TimestampMixin, Base):
    __tablename__ = "custom_fields"
    __table_args__ = (_natural_key("custom_fields"),)

    external_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300))
    custom: Mapped[bool] = mapped_column(Boolean, default=True)
    field_type: Mapped[str | None] = mapped_column(String(100))
    schema: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)


class Repository(IdMixin, IntegrationMixin, VersionedMixin, TimestampMixin, Base):
    __tablename__ = "repositories"
    __table_args__ = (_natural_key("repositories"),)

    external_id: Mapped[str] = mapped_column(String(100))  # GraphQL node id
    database_id: Mapped[int | None] = mapped_column(BigInteger)  # GitHub ids pass 2**31
    name: Mapped[str] = mapped_column(String(300))
    full_name: Mapped[str] = mapped_column(String(400), index=True)
    owner: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(500))
    language: Mapped[str | None] = mapped_column(String(100))
    default_branch: Mapped[str | None] = mapped_column(String(300))
    visibility: Mapped[str | None] = mapped_column(String(32))
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    fork: Mapped[bool] = mapped_column(Boolean, default=False)
    source_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
