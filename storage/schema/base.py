"""Declarative base, column types and mixins shared by every table.

Rules the mixins enforce: aware UTC timestamps everywhere, `tenant_id` on every business row,
`integration_id` on integration data, JSONB on PostgreSQL and JSON on SQLite.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so migrations can refer to them on both dialects.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT ids on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    Naive datetimes are refused on the way in (they are the original system's defect #12).
    SQLite keeps no offset, so values are stored as naive UTC there and re-tagged on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Pulse stores aware UTC timestamps only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def trigram_indexes(table: str, *columns: str) -> list[Index]:
    """GIN trigram indexes, so `ILIKE '%text%'` searches of these columns need no scan of the
    table. PostgreSQL only (the pg_trgm extension, created by migration 0003); SQLite, the
    small embedded database, has none."""
    return [
        Index(
            f"ix_{table}_{column}_trgm",
            column,
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql")
        for column in columns
    ]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JsonDoc}


class IdMixin:
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class TenantMixin:
    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return mapped_column(
            BigId, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True
        )


class IntegrationMixin(TenantMixin):
    @declared_attr
    def integration_id(cls) -> Mapped[int]:
        return mapped_column(
            BigId, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False
        )


class ChildOfFactMixin:
    """A row owned by a work item or pull request (transitions, sprint memberships, PR
    commits, reviews and comments), replaced together with it. Its tenant and integration are
    copied from the parent for tenant-scoped queries, without foreign keys of their own: the
    parent's key already cascades a tenant's deletion to them, and two more key checks on every
    child row cost half of the loader's largest COPY (bench/README.md)."""

    tenant_id: Mapped[int] = mapped_column(BigId, nullable=False, index=True)
    integration_id: Mapped[int] = mapped_column(BigId, nullable=False)


class VersionedMixin:
    """Columns of an upserted fact: lineage, version guard and soft delete.

    `version` is the source's own monotonic version (its updated time in microseconds since the
    epoch, or the raw record id for entities the source does not timestamp); `config_version`
    is the tenant configuration the row was transformed with. An upsert only overwrites a row
    when (version, config_version) grows, so a replayed message never undoes newer data while
    a replay after a mapping change still applies.
    """

    raw_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)
    config_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
