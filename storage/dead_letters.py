"""Dead letters for operators and admins: list, resolve (requeued or discarded), and put a dead
raw record back through the pipeline.

`tenant_id=None` means "every tenant" and is for operators (the CLI, the queues page of an
operator); a tenant admin's calls always pass their tenant, and a dead letter of another tenant
is then simply not found. The rows are written by the stages (`run_state.record_dead_letter`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pulse.messages import partition_for
from storage.schema import DeadLetter, OutboxEntry, RawRecord, utcnow

STATUSES = ("open", "requeued", "discarded")


def list_dead_letters(
    session: Session,
    *,
    tenant_id: int | None,
    status: str | None = "open",
    stage: str | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[DeadLetter]:
    """Newest first; page with `before_id` (the last id of the previous page)."""
    query = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if tenant_id is not None:
        query = query.where(DeadLetter.tenant_id == tenant_id)
    if status is not None:
        query = query.where(DeadLetter.status == status)
    if stage is not None:
        query = query.where(DeadLetter.stage == stage)
    if before_id is not None:
        query = query.where(DeadLetter.id < before_id)
    return list(session.scalars(query))


def lock_open_dead_letter(
    session: Session, dead_letter_id: int, *, tenant_id: int | None
) -> DeadLetter | None:
    """The open dead letter, locked until the transaction ends (so two operators clicking
    requeue publish it once); None when it is resolved already or not visible to the tenant."""
    query = (
        select(DeadLetter)
        .where(DeadLetter.id == dead_letter_id, DeadLetter.status == "open")
        .with_for_update()
    )
    if tenant_id is not None:
        query = query.where(DeadLetter.tenant_id == tenant_id)
    return session.scalar(query)


def resolve(session: Session, dead_letter_id: int, status: str) -> None:
    if status not in STATUSES[1:]:
        raise ValueError(f"a dead letter is resolved as requeued or discarded, not {status!r}")
    now = utcnow()
    session.execute(
        update(DeadLetter)
        .where(DeadLetter.id == dead_letter_id)
        .values(status=status, resolved_at=now, updated_at=now)
    )


def requeue_raw_records(
    session: Session, raw_ids: Sequence[int], *, tenant_id: int, partitions: int
) -> int:
    """Send raw records through transform and load again: unprocessed, with a new outbox row
    (the extract's relay publishes it). Records of other tenants are ignored. Returns how
    many were queued."""
    rows = session.execute(
        select(
            RawRecord.id, RawRecord.integration_id, RawRecord.job_run_id, RawRecord.entity
        ).where(RawRecord.id.in_(sorted(set(raw_ids))), RawRecord.tenant_id == tenant_id)
    ).all()
    if not rows:
        return 0
    now = utcnow()
    session.add_all(
        OutboxEntry(
            tenant_id=tenant_id,
            integration_id=integration_id,
            job_run_id=job_run_id,
            raw_id=raw_id,
            entity=entity,
            partition=partition_for(tenant_id, partitions),
            created_at=now,
        )
        for raw_id, integration_id, job_run_id, entity in rows
    )
    session.execute(
        update(RawRecord)
        .where(RawRecord.id.in_([row[0] for row in rows]))
        .values(processed_at=None)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return len(rows)
