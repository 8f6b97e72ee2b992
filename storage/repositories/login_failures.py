"""Failed logins per (email, client address), in the database so that every web worker
process counts the same failures. The policy (how many, over how long) is the caller's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.schema import LoginFailure


@dataclass(frozen=True, slots=True)
class LoginKey:
    """What the limit counts by: an email (casefolded, as users are looked up) and the
    client's address."""

    email: str
    client_address: str

    @classmethod
    def of(cls, email: str, client_address: str | None) -> LoginKey:
        return cls(email.strip().casefold()[:320], (client_address or "unknown")[:64])


def failure_times(session: Session, key: LoginKey, since: datetime) -> list[datetime]:
    """When the key's failures after `since` happened, oldest first (a handful: attempts the
    limit refuses are not recorded)."""
    return list(
        session.scalars(
            select(LoginFailure.failed_at)
            .where(
                LoginFailure.email == key.email,
                LoginFailure.client_address == key.client_address,
                LoginFailure.failed_at > since,
            )
            .order_by(LoginFailure.failed_at)
        )
    )


def record_failure(
    session: Session, key: LoginKey, at: datetime, *, forget_before: datetime
) -> None:
    """Count a failure; failures too old to count any more (of every key) go at the same time,
    so the table holds one window's worth of rows."""
    session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= forget_before))
    session.add(LoginFailure(email=key.email, client_address=key.client_address, failed_at=at))


def clear_failures(session: Session, key: LoginKey) -> None:
    """After a successful login the key starts afresh."""
    session.execute(
        delete(LoginFailure).where(
            LoginFailure.email == key.email, LoginFailure.client_address == key.client_address
        )
    )
