"""Users and password hashing (argon2id)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.errors import ConfigurationError
from storage.schema import ROLES, User

_hasher = PasswordHasher()
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def validate_new_user(email: str, password: str, role: str) -> list[tuple[str, str]]:
    """Field errors for a new user, as (field, message) pairs; empty when valid."""
    errors = []
    if not _EMAIL.match(email.strip()):
        errors.append(("email", "enter an email address like name@example.com"))
    if len(password) < MIN_PASSWORD_LENGTH:
        errors.append(("password", f"use at least {MIN_PASSWORD_LENGTH} characters"))
    if role not in ROLES:
        errors.append(("role", f"choose one of {', '.join(ROLES)}"))
    return errors


def create_user(
    session: Session,
    tenant_id: int,
    *,
    email: str,
    password: str,
    role: str,
    display_name: str | None = None,
) -> User:
    errors = validate_new_user(email, password, role)
    if errors:
        raise ConfigurationError("; ".join(f"{field}: {message}" for field, message in errors))
    email = email.strip().casefold()
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise ConfigurationError(f"a user with email {email!r} already exists")
    user = User(
        tenant_id=tenant_id,
        email=email,
        display_name=display_name,
        password_hash=hash_password(password),
        role=role,
        active=True,
    )
    session.add(user)
    session.flush()
    return user


@dataclass(frozen=True, slots=True)
class LoginCandidate:
    """An active user's id and password hash, as read before the password is checked. A login
    takes three steps (`login_candidate`, `password_matches`, `complete_login`), so the web
    holds no database connection while argon2 works."""

    user_id: int
    password_hash: str


def login_candidate(session: Session, email: str) -> LoginCandidate | None:
    row = session.execute(
        select(User.id, User.password_hash).where(
            User.email == email.strip().casefold(), User.active.is_(True)
        )
    ).one_or_none()
    return None if row is None else LoginCandidate(row.id, row.password_hash)


def password_matches(candidate: LoginCandidate | None, password: str) -> bool:
    """The argon2 check, with no database work: about 0.1 s of CPU and 64 MiB by design."""
    if candidate is None:
        _hasher.hash(password)  # same work either way, so timing does not reveal emails
        return False
    try:
        return _hasher.verify(candidate.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def complete_login(session: Session, candidate: LoginCandidate, password: str) -> User | None:
    """The user of a checked candidate, still active with the same hash (a deactivation or a
    password change in between wins); rehashes an outdated hash and stamps the login."""
    user = session.get(User, candidate.user_id, with_for_update=True)
    if user is None or not user.active or user.password_hash != candidate.password_hash:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = datetime.now(UTC)
    return user


def get_user(session: Session, tenant_id: int, user_id: int) -> User | None:
    return session.scalar(select(User).where(User.tenant_id == tenant_id, User.id == user_id))


def list_users(session: Session, tenant_id: int) -> list[User]:
    return list(session.scalars(select(User).where(User.tenant_id == tenant_id).order_by(User.id)))


def set_role(session: Session, tenant_id: int, user_id: int, role: str) -> User | None:
    if role not in ROLES:
        raise ConfigurationError(f"role must be one of {', '.join(ROLES)}")
    user = get_user(session, tenant_id, user_id)
    if user is not None:
        user.role = role
    return user


def set_active(session: Session, tenant_id: int, user_id: int, active: bool) -> User | None:
    user = get_user(session, tenant_id, user_id)
    if user is not None:
        user.active = active
    return user
