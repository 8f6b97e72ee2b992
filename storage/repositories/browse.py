"""Tenant-scoped reads for the data browser and the raw-store API.

Lists select only the columns a table row shows (a work item row carries ~80 columns and a
long description) and count matches only up to a cap that grows with the page asked for (at
least `COUNT_CAP`, and 20 pages past the current one), so a page over 100,000 items costs about
what one over 1,000 does: "1-50 of 1,000+" is as useful as an exact figure. Lineage goes from
a fact to the raw record it was built from and to the other stored versions of the same source
entity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, literal, select, tuple_
from sqlalchemy.orm import Session

from storage.schema import (
    Integration,
    PrComment,
    PrCommit,
    Project,
    PrReview,
    PullRequest,
    RawRecord,
    Repository,
    WorkItem,
    WorkItemPrLink,
    WorkItemTransition,
)

COUNT_CAP = 1_000
COUNT_PAGES_AHEAD = 20
MAX_PAGE_SIZE = 200


@dataclass(frozen=True, slots=True)
class Counted:
    rows: list[Any]
    total: int  # exact up to the cap
    capped: bool  # more rows than the cap match


def _count(session: Session, query: Select[Any], limit: int, offset: int) -> tuple[int, bool]:
    cap = max(COUNT_CAP, offset + COUNT_PAGES_AHEAD * limit)
    limited = query.with_only_columns(literal(1)).order_by(None).limit(cap + 1)
    total = int(session.scalar(select(func.count()).select_from(limited.subquery())) or 0)
    return min(total, cap), total > cap


@dataclass(frozen=True, slots=True)
class WorkItemFilter:
    integration_id: int | None = None
    search: str | None = None
    project_key: str | None = None
    type_name: str | None = None
    workflow_step: str | None = None
    unmapped: bool = False


@dataclass(frozen=True, slots=True)
class WorkItemRow:
    id: int
    integration_id: int
    key: str
    summary: str | None
    type_name: str | None
    source_type: str | None
    workflow_step: str | None
    source_status: str | None
    step_category: str | None
    type_mapped: bool
    status_mapped: bool
    assignee: str | None
    source_updated_at: datetime | None
    cycle_seconds: int | None
    lead_seconds: int | None


_WORK_ITEM_COLUMNS = [getattr(WorkItem, f) for f in WorkItemRow.__slots__]


def work_items_page(
    session: Session,
    tenant_id: int,
    filters: WorkItemFilter,
    *,
    limit: int = 50,
    offset: int = 0,
) -> Counted:
    """One page of the tenant's work items, newest source update first."""
    query = select(*_WORK_ITEM_COLUMNS).where(WorkItem.tenant_id == tenant_id)
    if filters.integration_id is not None:
        query = query.where(WorkItem.integration_id == filters.integration_id)
    if filters.project_key:
        query = query.where(WorkItem.project_key == filters.project_key)
    if filters.type_name:
        query = query.where(
            (WorkItem.type_name == filters.type_name) | (WorkItem.source_type == filters.type_name)
        )
    if filters.workflow_step:
        query = query.where(
            (WorkItem.workflow_step == filters.workflow_step)
            | (WorkItem.source_status == filters.workflow_step)
        )
    if filters.unmapped:
        query = query.where(~(WorkItem.type_mapped & WorkItem.status_mapped))
    if filters.search:
        pattern = f"%{filters.search.strip()}%"
        query = query.where(WorkItem.key.ilike(pattern) | WorkItem.summary.ilike(pattern))
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    total, capped = _count(session, query, limit, offset)
    # DESC sorts NULLs first, matching a backward scan of ix_work_items_tenant_updated.
    ordered = query.order_by(WorkItem.source_updated_at.desc(), WorkItem.id.desc())
    rows = [WorkItemRow(*r) for r in session.execute(ordered.limit(limit).offset(offset))]
    return Counted(rows, total, capped)


@dataclass(frozen=True, slots=True)
class PullRequestFilter:
    integration_id: int | None = None
    search: str | None = None
    repository: str | None = None
    state: str | None = None


@dataclass(frozen=True, slots=True)
class PullRequestRow:
    id: int
    integration_id: int
    repository_full_name: str
    number: int
    title: str | None
    author: str | None
    state: str
    is_draft: bool
    source_updated_at: datetime | None
    merged_at: datetime | None
    review_count: int
    commit_count: int


_PR_COLUMNS = [getattr(PullRequest, f) for f in PullRequestRow.__slots__]


def pull_requests_page(
    session: Session,
    tenant_id: int,
    filters: PullRequestFilter,
    *,
    limit: int = 50,
    offset: int = 0,
) -> Counted:
    query = select(*_PR_COLUMNS).where(PullRequest.tenant_id == tenant_id)
    if filters.integration_id is not None:
        query = query.where(PullRequest.integration_id == filters.integration_id)
    if filters.repository:
        query = query.where(PullRequest.repository_full_name == filters.repository)
    if filters.state:
        query = query.where(PullRequest.state == filters.state)
    if filters.search:
        pattern = f"%{filters.search.strip()}%"
        query = query.where(
            PullRequest.title.ilike(pattern) | PullRequest.repository_full_name.ilike(pattern)
        )
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    total, capped = _count(session, query, limit, offset)
    ordered = query.order_by(PullRequest.source_updated_at.desc(), PullRequest.id.desc())
    rows = [PullRequestRow(*r) for r in session.execute(ordered.limit(limit).offset(offset))]
    return Counted(rows, total, capped)


@dataclass(frozen=True, slots=True)
class FilterChoices:
    """Values the filter drop-downs offer, read from small tables and indexed columns."""

    integrations: list[Integration]
    projects: list[str] = field(default_factory=list)
    repositories: list[str] = field(default_factory=list)


def filter_choices(session: Session, tenant_id: int) -> FilterChoices:
    integrations = list(
        session.scalars(
            select(Integration)
            .where(Integration.tenant_id == tenant_id, Integration.provider != "embedding")
            .order_by(Integration.name)
        )
    )
    # Catalog tables hold one row per project and repository, not one per item.
    projects = list(
        session.scalars(
            select(Project.key)
            .where(Project.tenant_id == tenant_id)
            .distinct()
            .order_by(Project.key)
        )
    )
    repositories = list(
        session.scalars(
            select(Repository.full_name)
            .where(Repository.tenant_id == tenant_id)
            .distinct()
            .order_by(Repository.full_name)
        )
    )
    return FilterChoices(integrations, projects, repositories)


def get_work_item(session: Session, tenant_id: int, work_item_id: int) -> WorkItem | None:
    return session.scalar(
        select(WorkItem).where(WorkItem.tenant_id == tenant_id, WorkItem.id == work_item_id)
    )


def work_item_transitions(
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


def work_item_links(session: Session, tenant_id: int, work_item_id: int) -> list[WorkItemPrLink]:
    """The pull requests linked to a work item, by its key."""
    key = select(WorkItem.key).where(WorkItem.tenant_id == tenant_id, WorkItem.id == work_item_id)
    return list(
        session.scalars(
            select(WorkItemPrLink)
            .where(
                WorkItemPrLink.tenant_id == tenant_id,
                WorkItemPrLink.work_item_key == key.scalar_subquery(),
            )
            .order_by(WorkItemPrLink.repository_full_name, WorkItemPrLink.pr_number)
        )
    )


def get_pull_request(session: Session, tenant_id: int, pull_request_id: int) -> PullRequest | None:
    return session.scalar(
        select(PullRequest).where(
            PullRequest.tenant_id == tenant_id, PullRequest.id == pull_request_id
        )
    )


@dataclass(frozen=True, slots=True)
class PullRequestDetail:
    commits: list[PrCommit]
    reviews: list[PrReview]
    comments: list[PrComment]
    linked_keys: list[str]


def pull_request_detail(
    session: Session, tenant_id: int, pull_request_id: int, *, limit: int = 100
) -> PullRequestDetail | None:
    pr = get_pull_request(session, tenant_id, pull_request_id)
    if pr is None:
        return None

    def children(model: Any, order: Any) -> list[Any]:
        return list(
            session.scalars(
                select(model)
                .where(model.tenant_id == tenant_id, model.pull_request_id == pr.id)
                .order_by(order)
                .limit(limit)
            )
        )

    linked = session.scalars(
        select(WorkItemPrLink.work_item_key)
        .where(
            WorkItemPrLink.tenant_id == tenant_id,
            WorkItemPrLink.repository_full_name == pr.repository_full_name,
            WorkItemPrLink.pr_number == pr.number,
        )
        .distinct()
        .order_by(WorkItemPrLink.work_item_key)
    )
    return PullRequestDetail(
        commits=children(PrCommit, PrCommit.committed_at),
        reviews=children(PrReview, PrReview.submitted_at),
        comments=children(PrComment, PrComment.source_created_at),
        linked_keys=list(linked),
    )


def find_work_item_by_key(session: Session, tenant_id: int, key: str) -> WorkItem | None:
    return session.scalar(
        select(WorkItem)
        .where(WorkItem.tenant_id == tenant_id, WorkItem.key == key)
        .order_by(WorkItem.id)
        .limit(1)
    )


# --- raw store ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawFilter:
    integration_id: int | None = None
    entity: str | None = None
    external_id: str | None = None
    job_run_id: int | None = None
    before_id: int | None = None  # keyset pagination: rows with a smaller id


@dataclass(frozen=True, slots=True)
class RawSummary:
    id: int
    integration_id: int
    job_run_id: int | None
    entity: str
    external_id: str
    version: str
    content_hash: str
    fetched_at: datetime
    processed_at: datetime | None


_RAW_COLUMNS = [getattr(RawRecord, f) for f in RawSummary.__slots__]


def list_raw_records(
    session: Session, tenant_id: int, filters: RawFilter, *, limit: int = 100
) -> list[RawSummary]:
    """Raw records without their payloads, newest first; page on with `before_id`."""
    query = select(*_RAW_COLUMNS).where(RawRecord.tenant_id == tenant_id)
    if filters.integration_id is not None:
        query = query.where(RawRecord.integration_id == filters.integration_id)
    if filters.entity:
        query = query.where(RawRecord.entity == filters.entity)
    if filters.external_id:
        query = query.where(RawRecord.external_id == filters.external_id)
    if filters.job_run_id is not None:
        query = query.where(RawRecord.job_run_id == filters.job_run_id)
    if filters.before_id is not None:
        query = query.where(RawRecord.id < filters.before_id)
    limit = max(1, min(limit, 500))
    return [
        RawSummary(*r) for r in session.execute(query.order_by(RawRecord.id.desc()).limit(limit))
    ]


def get_raw_record(session: Session, tenant_id: int, raw_id: int) -> RawRecord | None:
    return session.scalar(
        select(RawRecord).where(RawRecord.tenant_id == tenant_id, RawRecord.id == raw_id)
    )


def raw_versions(session: Session, tenant_id: int, raw_id: int) -> list[RawSummary]:
    """Every stored version of the entity this raw record is a version of, newest first."""
    raw = get_raw_record(session, tenant_id, raw_id)
    if raw is None:
        return []
    return list_raw_records(
        session,
        tenant_id,
        RawFilter(
            integration_id=raw.integration_id, entity=raw.entity, external_id=raw.external_id
        ),
        limit=50,
    )


def fact_ids(
    session: Session, tenant_id: int, entity: str, keys: list[tuple[int, str]]
) -> dict[tuple[int, str], int]:
    """Row ids of the tenant's facts by (integration id, external id), to link search hits
    to their pages. `entity` is work_item or pull_request."""
    model: Any = {"work_item": WorkItem, "pull_request": PullRequest}[entity]
    if not keys:
        return {}
    rows = session.execute(
        select(model.integration_id, model.external_id, model.id).where(
            model.tenant_id == tenant_id,
            tuple_(model.integration_id, model.external_id).in_(keys),
        )
    )
    return {(integration, external): row_id for integration, external, row_id in rows}
