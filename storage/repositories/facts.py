"""Tenant-scoped reads of the loaded facts (the data browser, counts, unmapped values)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.schema import PullRequest, WorkItem, WorkItemTransition


@dataclass(frozen=True, slots=True)
class UnmappedValue:
    kind: str  # "type" | "status"
    integration_id: int
    source_name: str
    items: int


def list_work_items(
    session: Session,
    tenant_id: int,
    *,
    integration_id: int | None = None,
    search: str | None = None,
    workflow_step: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[WorkItem]:
    query = select(WorkItem).where(WorkItem.tenant_id == tenant_id)
    if integration_id is not None:
        query = query.where(WorkItem.integration_id == integration_id)
    if workflow_step is not None:
        query = query.where(WorkItem.workflow_step == workflow_step)
    if search:
        pattern = f"%{search}%"
        query = query.where(WorkItem.key.ilike(pattern) | WorkItem.summary.ilike(pattern))
    query = query.order_by(WorkItem.source_updated_at.desc().nulls_last(), WorkItem.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))


def get_work_item(session: Session, tenant_id: int, work_item_id: int) -> WorkItem | None:
    return session.scalar(
        select(WorkItem).where(WorkItem.tenant_id == tenant_id, WorkItem.id == work_item_id)
    )


def list_transitions(
    session: Session, tenant_id: int, work_item_id: int
) -> list[WorkItemTransition]:
    return list(
        session.scalars(
            select(WorkItemTransition)
            .where(
                WorkItemTransition.tenant_id == tenant_id,
                WorkItemTransition.work_item_id == work_item_id,
            )
            .order_by(WorkItemTransition.seq)
        )
    )


def list_pull_requests(
    session: Session,
    tenant_id: int,
    *,
    repository: str | None = None,
    state: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[PullRequest]:
    query = select(PullRequest).where(PullRequest.tenant_id == tenant_id)
    if repository is not None:
        query = query.where(PullRequest.repository_full_name == repository)
    if state is not None:
        query = query.where(PullRequest.state == state)
    query = query.order_by(PullRequest.source_updated_at.desc().nulls_last(), PullRequest.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))


def get_pull_request(session: Session, tenant_id: int, pull_request_id: int) -> PullRequest | None:
    return session.scalar(
        select(PullRequest).where(
            PullRequest.tenant_id == tenant_id, PullRequest.id == pull_request_id
        )
    )


def count_facts(session: Session, tenant_id: int) -> dict[str, int]:
    """Loaded row counts per entity, as the demo and the Qdrant page report them."""
    return {
        "work_items": session.scalar(
            select(func.count()).select_from(WorkItem).where(WorkItem.tenant_id == tenant_id)
        )
        or 0,
        "pull_requests": session.scalar(
            select(func.count()).select_from(PullRequest).where(PullRequest.tenant_id == tenant_id)
        )
        or 0,
    }


def unmapped_values(session: Session, tenant_id: int) -> list[UnmappedValue]:
    """Source types and statuses no mapping matched, with how many items carry each."""
    found: list[UnmappedValue] = []
    for kind, column, flag in (
        ("type", WorkItem.source_type, WorkItem.type_mapped),
        ("status", WorkItem.source_status, WorkItem.status_mapped),
    ):
        rows = session.execute(
            select(WorkItem.integration_id, column, func.count())
            .where(WorkItem.tenant_id == tenant_id, flag.is_(False), column.is_not(None))
            .group_by(WorkItem.integration_id, column)
            .order_by(func.count().desc())
        )
        found.extend(UnmappedValue(kind, i, str(name), int(n)) for i, name, n in rows)
    return found
