"""Tenants, users, server-side sessions, API tokens and the failed logins the rate limit counts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.schema.base import Base, BigId, IdMixin, TenantMixin, TimestampMixin, UTCDateTime

ROLES = ("admin", "user", "viewer")


class Tenant(IdMixin, TimestampMixin, Base):
    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on every configuration edit; dataflows cache the configuration by this number.
    config_version: Mapped[int] = mapped_column(Integer, default=1)


class User(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="role"),)

    # Logins name no tenant, so an email identifies one user across all tenants.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Session(TenantMixin, Base):
    """A web session. The JWT names it; deleting or revoking the row logs the user out."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user_agent: Mapped[str | None] = mapped_column(String(400))
    ip_address: Mapped[str | None] = mapped_column(String(64))


class ApiToken(IdMixin, TenantMixin, TimestampMixin, Base):
    """A bearer token for the JSON API; only its hash is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="role"),)

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginFailure(IdMixin, Base):
    """A failed login, kept while it counts towards the login rate limit of its (email,
    client address). Not tied to a user: an email without an account is limited the same
    way, so the limit reveals nothing about which emails exist."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key", "email", "client_address", "failed_at"),)

    email: Mapped[str] = mapped_column(String(320))  # casefolded, as logins look users up
    client_address: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # purge by age
