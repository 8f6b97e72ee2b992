"""Server-side web sessions and API tokens.

A web session is a row the session cookie's JWT names. Every request reads the row together
with its user, so logging out (revoking the row), deactivating the user or changing their role
takes effect on the next request, whatever the JWT still says. API tokens are stored only as a
SHA-256 of the token: they are 256-bit random strings, so a slow hash adds nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from pulse.errors import ConfigurationError
from storage.schema import ROLES, ApiToken, Tenant, User, utcnow
from storage.schema import Session as WebSession

TOKEN_PREFIX = "pulse_"  # noqa: S105 - a marker, not a secret


class LiveSession(NamedTuple):
    """A session that is valid right now, with what the request needs of its user. Plain
    columns, not ORM entities: every request of the web UI reads one."""

    session_id: str
    created_at: datetime
    user_id: int
    tenant_id: int
    email: str
    display_name: str | None
    role: str
    tenant_name: str


def create_session(
    session: Session,
    tenant_id: int,
    user_id: int,
    *,
    lifetime: timedelta,
    user_agent: str | None = None,
    ip_address: str | None = None,
) -> WebSession:
    """A new session for an authenticated user; its id is the secret the JWT carries."""
    now = utcnow()
    row = WebSession(
        id=secrets.token_urlsafe(32),
        tenant_id=tenant_id,
        user_id=user_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
        user_agent=(user_agent or "")[:400] or None,
        ip_address=(ip_address or "")[:64] or None,
    )
    session.add(row)
    session.flush()
    return row


# Built once: every request of the web UI runs it, and building it costs more Python than
# sending it (storage/repositories/listing.py).
_LIVE_SESSION = (
    select(
        WebSession.id,
        WebSession.created_at,
        User.id,
        User.tenant_id,
        User.email,
        User.display_name,
        User.role,
        Tenant.name,
    )
    .join(User, User.id == WebSession.user_id)
    .join(Tenant, Tenant.id == WebSession.tenant_id)
    .where(
        WebSession.id == bindparam("session_id"),
        WebSession.revoked_at.is_(None),
        WebSession.expires_at > bindparam("now"),
        User.active.is_(True),
        User.tenant_id == WebSession.tenant_id,
        Tenant.active.is_(True),
    )
)


def load_live_session(session: Session, session_id: str, *, now: datetime) -> LiveSession | None:
    """The session if it is neither revoked nor expired and its user is active; else None.

    Looked up by its secret id alone: the tenant is what this returns, never an input."""
    found = session.execute(_LIVE_SESSION, {"session_id": session_id, "now": now}).first()
    return None if found is None else LiveSession._make(found)


def extend_session(
    session: Session, session_id: str, *, now: datetime, lifetime: timedelta, cap: datetime
) -> datetime:
    """Slide the session's expiry on activity, never past `cap` (its absolute end)."""
    expires = min(now + lifetime, cap)
    session.execute(
        update(WebSession)
        .where(WebSession.id == session_id)
        .values(last_seen_at=now, expires_at=expires)
    )
    return expires


def revoke_session(session: Session, session_id: str) -> None:
    session.execute(
        update(WebSession)
        .where(WebSession.id == session_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def revoke_user_sessions(session: Session, tenant_id: int, user_id: int) -> int:
    """End every session of a user (deactivation, password or role change by an admin)."""
    result = session.execute(
        update(WebSession)
        .where(
            WebSession.tenant_id == tenant_id,
            WebSession.user_id == user_id,
            WebSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(
    session: Session, tenant_id: int, user_id: int, *, name: str, role: str
) -> tuple[ApiToken, str]:
    """A new bearer token for one of the tenant's users; the clear token is returned once and
    never stored."""
    name = name.strip()
    if not name:
        raise ConfigurationError("an API token needs a name")
    if role not in ROLES:
        raise ConfigurationError(f"role must be one of {', '.join(ROLES)}")
    owner = session.scalar(select(User).where(User.tenant_id == tenant_id, User.id == user_id))
    if owner is None:
        raise LookupError(f"user {user_id} does not exist in tenant {tenant_id}")
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        tenant_id=tenant_id,
        user_id=user_id,
        name=name[:200],
        token_hash=_token_hash(clear),
        role=role,
    )
    session.add(token)
    session.flush()
    return token, clear


@dataclass(frozen=True, slots=True)
class TokenPrincipal:
    token: ApiToken
    user: User
    tenant_name: str


def authenticate_api_token(session: Session, clear: str, *, now: datetime) -> TokenPrincipal | None:
    """The unrevoked token and its active user; None otherwise. Marks the token used."""
    if not clear.startswith(TOKEN_PREFIX):
        return None
    found = session.execute(
        select(ApiToken, User, Tenant.name)
        .join(User, User.id == ApiToken.user_id)
        .join(Tenant, Tenant.id == ApiToken.tenant_id)
        .where(
            ApiToken.token_hash == _token_hash(clear),
            ApiToken.revoked_at.is_(None),
            User.active.is_(True),
            User.tenant_id == ApiToken.tenant_id,
            Tenant.active.is_(True),
        )
    ).first()
    if found is None:
        return None
    token, user, tenant_name = found
    last = token.last_used_at
    if last is None or now - last > timedelta(minutes=1):  # one write a minute at most
        token.last_used_at = now
    return TokenPrincipal(token, user, tenant_name)


def list_api_tokens(session: Session, tenant_id: int) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.tenant_id == tenant_id).order_by(ApiToken.id.desc())
        )
    )


def revoke_api_token(session: Session, tenant_id: int, token_id: int) -> ApiToken | None:
    token = session.scalar(
        select(ApiToken).where(ApiToken.tenant_id == tenant_id, ApiToken.id == token_id)
    )
    if token is not None and token.revoked_at is None:
        token.revoked_at = utcnow()
    return token
