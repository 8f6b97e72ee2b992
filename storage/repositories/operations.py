"""Tenant-scoped reads for the operations pages (queues, dead letters)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.schema import DeadLetter


def get_dead_letter(session: Session, tenant_id: int, dead_letter_id: int) -> DeadLetter | None:
    """One of the tenant's dead letters (whatever its status); another tenant's is not found."""
    return session.scalar(
        select(DeadLetter).where(DeadLetter.tenant_id == tenant_id, DeadLetter.id == dead_letter_id)
    )
