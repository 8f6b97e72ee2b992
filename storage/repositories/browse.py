"""Tenant-scoped reads for the data browser and the raw-store API.

Lists select only the columns a table row shows (a work item row carries ~80 columns and a
long description), through a `Listing` (statements built once, counts capped). Lineage goes from
a fact to the raw record it was built from and to the other stored versions of the same source
entity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Select,
    bindparam,
    cast,
    literal,
    null,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.orm import QueryableAttribute, Session

from storage.repositories.listing import Counted, Listing
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


@dataclass(frozen=True, slots=True)
class WorkItemFilter:
    integration_id: int | None = None
    search: str | None = None
    project_key: str | None = None
    type_name: str | None = None
    workflow_step: str | None = None
    unmapped: bool = False


class WorkItemRow(NamedTuple):
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


_WORK_ITEMS = Listing(
    WorkItem,
    WorkItemRow._fields,
    WorkItemRow._make,
    # DESC sorts NULLs first, matching a backward scan of ix_work_items_tenant_updated.
    order=[WorkItem.source_updated_at.desc(), WorkItem.id.desc()],
    conditions={
        "integration_id": lambda value: WorkItem.integration_id == value,
        "project_key": lambda value: WorkItem.project_key == value,
        "type_name": lambda value: (WorkItem.type_name == value) | (WorkItem.source_type == value),
        "workflow_step": lambda value: (
            (WorkItem.workflow_step == value) | (WorkItem.source_status == value)
        ),
        "unmapped": lambda _flag: ~(WorkItem.type_mapped & WorkItem.status_mapped),
        "search": lambda pattern: (
            _contains(WorkItem.key, pattern) | _contains(WorkItem.summary, pattern)
        ),
    },
)


def work_items_page(
    session: Session,
    tenant_id: int,
    filters: WorkItemFilter,
    *,
    limit: int = 50,
    offset: int = 0,
) -> Counted[WorkItemRow]:
    """One page of the tenant's work items, newest source update first."""
    values = {
        "integration_id": filters.integration_id,
        "project_key": filters.project_key or None,
        "type_name": filters.type_name or None,
        "workflow_step": filters.workflow_step or None,
        "unmapped": filters.unmapped or None,
        "search": _pattern(filters.search),
    }
    return _WORK_ITEMS.page(session, tenant_id, values, limit=limit, offset=offset)


def _pattern(search: str | None) -> str | None:
    """A LIKE pattern for the text anywhere; `%`, `_` and `\\` in it match only themselves."""
    text = (search or "").strip()
    if not text:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(column: QueryableAttribute[Any], pattern: BindParameter[str]) -> ColumnElement[bool]:
    return column.ilike(pattern, escape="\\")


@dataclass(frozen=True, slots=True)
class PullRequestFilter:
    integration_id: int | None = None
    search: str | None = None
    repository: str | None = None
    state: str | None = None


class PullRequestRow(NamedTuple):
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


_PULL_REQUESTS = Listing(
    PullRequest,
    PullRequestRow._fields,
    PullRequestRow._make,
    order=[PullRequest.source_updated_at.desc(), PullRequest.id.desc()],
    conditions={
        "integration_id": lambda value: PullRequest.integration_id == value,
        "repository": lambda value: PullRequest.repository_full_name == value,
        "state": lambda value: PullRequest.state == value,
        "search": lambda pattern: (
            _contains(PullRequest.title, pattern)
            | _contains(PullRequest.repository_full_name, pattern)
        ),
    },
)


def pull_requests_page(
    session: Session,
    tenant_id: int,
    filters: PullRequestFilter,
    *,
    limit: int = 50,
    offset: int = 0,
) -> Counted[PullRequestRow]:
    values = {
        "integration_id": filters.integration_id,
        "repository": filters.repository or None,
        "state": filters.state or None,
        "search": _pattern(filters.search),
    }
    return _PULL_REQUESTS.page(session, tenant_id, values, limit=limit, offset=offset)


@dataclass(frozen=True, slots=True)
class FilterChoices:
    """What a list's filter drop-downs offer for one provider: its integrations and its
    projects (Jira) or repositories (GitHub)."""

    integrations: list[tuple[int, str]]  # (id, name)
    scopes: list[str]


def _choices_statement(provider: str) -> Select[Any]:
    """The provider's integrations, then the catalog's distinct project keys (Jira) or
    repository names (GitHub), each part in name order."""
    name, owner = (
        (Project.key, Project.tenant_id)
        if provider == "jira"
        else (Repository.full_name, Repository.tenant_id)
    )
    integrations = select(
        literal(0).label("part"), Integration.id.label("id"), Integration.name.label("name")
    ).where(Integration.tenant_id == bindparam("tenant_id"), Integration.provider == provider)
    # A typed NULL: PostgreSQL cannot compare the unknown type DISTINCT needs.
    scopes = (
        select(literal(1), cast(null(), BigInteger), name)
        .where(owner == bindparam("tenant_id"))
        .distinct()
    )
    both = union_all(integrations, scopes).subquery()
    return select(both).order_by(both.c.part, both.c.name)


# Every page of the browser asks, so built once (storage/repositories/listing.py says why).
_CHOICES = {provider: _choices_statement(provider) for provider in ("jira", "github")}


def filter_choices(session: Session, tenant_id: int, provider: str) -> FilterChoices:
    found = FilterChoices([], [])
    for part, integration_id, label in session.execute(
        _CHOICES[provider], {"tenant_id": tenant_id}
    ):
        if part == 0:
            found.integrations.append((integration_id, label))
        else:
            found.scopes.append(label)
    return found


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
