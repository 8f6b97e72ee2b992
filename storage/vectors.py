"""The SQL of the vectorize stage: the facts to embed, `vector_points` bookkeeping, the backlog
sweep and the per-entity counts the Qdrant page shows.

Every function takes the tenant explicitly and filters on it; none is reachable from a request
without the caller having verified the tenant. `vector_points` says which content (hash) of a
fact is embedded with which model, in which collection, under which point id: it is what lets
the worker skip unchanged content and lets the UI compare PostgreSQL with Qdrant.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, select, tuple_, update
from sqlalchemy.orm import Session

from storage.db import among
from storage.loader_sql import table
from storage.schema import JobRun, PullRequest, VectorPoint, WorkItem
from storage.upsert import upsert_rows

__all__ = [
    "ENTITY_TABLES",
    "EntityCounts",
    "FactKey",
    "StoredPoint",
    "delete_vector_points",
    "fact_rows",
    "facts_needing_vectors",
    "recount_vectorized",
    "stored_points",
    "tenant_collections",
    "upsert_vector_points",
    "vector_counts",
]

FactModel = type[WorkItem] | type[PullRequest]
ENTITY_TABLES: dict[str, FactModel] = {"work_item": WorkItem, "pull_request": PullRequest}

# The columns the text templates (`work_item_text`, `pull_request_text`) read, plus what the
# point's payload carries. Keep in step with dataflows/rules: a missing column is a KeyError in
# the template, caught by the tests that compare the computed hash with the stored one.
_TEXT_COLUMNS: dict[str, tuple[str, ...]] = {
    "work_item": ("key", "type_name", "summary", "source_status", "labels", "description"),
    "pull_request": ("repository_full_name", "number", "state", "title", "body", "url"),
}
_LINEAGE_COLUMNS = ("external_id", "integration_id", "raw_id", "last_job_run_id", "content_hash")


@dataclass(frozen=True, slots=True, order=True)
class FactKey:
    entity: str
    integration_id: int
    external_id: str


@dataclass(frozen=True, slots=True)
class StoredPoint:
    point_id: str
    collection: str
    content_hash: str
    model: str


@dataclass(frozen=True, slots=True)
class EntityCounts:
    """One entity of one tenant: facts in PostgreSQL (not deleted at the source), their
    vector_points rows, and how many of those match the fact's current content."""

    entity: str
    facts: int
    points: int
    current: int

    @property
    def stale_or_missing(self) -> int:
        return self.facts - self.current


def _model(entity: str) -> FactModel:
    try:
        return ENTITY_TABLES[entity]
    except KeyError:
        raise ValueError(f"no fact table for entity {entity!r}") from None


def fact_rows(
    session: Session,
    tenant_id: int,
    integration_id: int,
    entity: str,
    external_ids: Collection[str],
) -> list[dict[str, Any]]:
    """The current rows of these facts (the text columns, lineage and `deleted_at`); ids with
    no row are simply absent from the result."""
    if not external_ids:
        return []
    model = _model(entity)
    columns = [getattr(model, c) for c in (*_TEXT_COLUMNS[entity], *_LINEAGE_COLUMNS)]
    stmt = select(*columns, model.deleted_at).where(
        model.tenant_id == tenant_id,
        model.integration_id == integration_id,
        among(session.connection(), model.external_id, sorted(set(external_ids))),
    )
    return [dict(row) for row in session.execute(stmt).mappings()]


def stored_points(
    session: Session,
    tenant_id: int,
    integration_id: int,
    entity: str,
    external_ids: Collection[str],
) -> dict[str, StoredPoint]:
    """external id → what is embedded for it now."""
    if not external_ids:
        return {}
    stmt = select(
        VectorPoint.record_external_id,
        VectorPoint.point_id,
        VectorPoint.collection,
        VectorPoint.content_hash,
        VectorPoint.model,
    ).where(
        VectorPoint.tenant_id == tenant_id,
        VectorPoint.integration_id == integration_id,
        VectorPoint.entity == entity,
        among(session.connection(), VectorPoint.record_external_id, sorted(set(external_ids))),
    )
    return {row[0]: StoredPoint(*row[1:]) for row in session.execute(stmt)}


def upsert_vector_points(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Write what was just upserted to Qdrant. Unguarded on purpose: the caller embedded the
    fact's current text, so the newest write is the truth (the point id never changes)."""
    if not rows:
        return 0
    key = ("tenant_id", "integration_id", "entity", "record_external_id")
    return upsert_rows(session.connection(), table("vector_points"), rows, key, guard=()).written


def delete_vector_points(
    session: Session,
    tenant_id: int,
    integration_id: int,
    entity: str,
    external_ids: Collection[str],
) -> int:
    """Forget the points of facts that are gone (deleted at the source, or never loaded)."""
    if not external_ids:
        return 0
    result = session.execute(
        delete(VectorPoint).where(
            VectorPoint.tenant_id == tenant_id,
            VectorPoint.integration_id == integration_id,
            VectorPoint.entity == entity,
            among(session.connection(), VectorPoint.record_external_id, sorted(set(external_ids))),
        ),
        execution_options={"synchronize_session": False},
    )
    return max(getattr(result, "rowcount", 0), 0)


def _current_points(model: FactModel, entity: str) -> Any:
    """vector_points rows that embed this fact's current content."""
    return and_(
        VectorPoint.tenant_id == model.tenant_id,
        VectorPoint.integration_id == model.integration_id,
        VectorPoint.entity == entity,
        VectorPoint.record_external_id == model.external_id,
        VectorPoint.content_hash == model.content_hash,
    )


def recount_vectorized(session: Session, tenant_id: int, run_ids: Iterable[int]) -> dict[int, int]:
    """`job_runs.vectorized` := facts the run last loaded whose current content is embedded,
    counted from the rows (like `loaded`), so a redelivered request never counts twice and the
    count can never pass `loaded`. One UPDATE, using the (tenant, last_job_run_id) indexes."""
    runs = sorted({run for run in run_ids if run is not None})
    if not runs:
        return {}
    counts = []
    for entity, model in ENTITY_TABLES.items():
        counts.append(
            select(func.count())
            .select_from(model)
            .join(VectorPoint, _current_points(model, entity))
            .where(model.tenant_id == JobRun.tenant_id, model.last_job_run_id == JobRun.id)
            .scalar_subquery()
        )
    stmt = (
        update(JobRun)
        .where(JobRun.id.in_(runs), JobRun.tenant_id == tenant_id)
        .values(vectorized=counts[0] + counts[1])
        .returning(JobRun.id, JobRun.vectorized)
        .execution_options(synchronize_session=False)
    )
    return {run: count for run, count in session.execute(stmt)}


def facts_needing_vectors(
    session: Session,
    tenant_id: int,
    limit: int,
    *,
    model: str | None = None,
    after: FactKey | None = None,
) -> list[FactKey]:
    """The re-embed backlog: live facts with no vector_points row, or one for other content
    (or, when `model` is given, made by another model). Ordered by (entity, integration,
    external id) and paged with `after`, so a sweep that cannot embed some fact still moves on."""
    found: list[FactKey] = []
    for entity, fact in sorted(ENTITY_TABLES.items()):
        if len(found) >= limit or (after is not None and entity < after.entity):
            continue
        current = _current_points(fact, entity)
        if model is not None:
            current = and_(current, VectorPoint.model == model)
        stmt = (
            select(fact.integration_id, fact.external_id)
            .outerjoin(VectorPoint, current)
            .where(
                fact.tenant_id == tenant_id,
                fact.deleted_at.is_(None),
                fact.content_hash.is_not(None),
                VectorPoint.id.is_(None),
            )
            .order_by(fact.integration_id, fact.external_id)
            .limit(limit - len(found))
        )
        if after is not None and entity == after.entity:
            stmt = stmt.where(
                tuple_(fact.integration_id, fact.external_id)
                > tuple_(after.integration_id, after.external_id)
            )
        found.extend(FactKey(entity, i, e) for i, e in session.execute(stmt))
    return found


def vector_counts(session: Session, tenant_id: int) -> list[EntityCounts]:
    """Per entity: live facts, vector_points rows and up-to-date ones, for the Qdrant page
    (which sets them beside the points Qdrant itself counts)."""
    result = []
    for entity, fact in ENTITY_TABLES.items():
        facts = session.scalar(
            select(func.count())
            .select_from(fact)
            .where(fact.tenant_id == tenant_id, fact.deleted_at.is_(None))
        )
        points = session.scalar(
            select(func.count())
            .select_from(VectorPoint)
            .where(VectorPoint.tenant_id == tenant_id, VectorPoint.entity == entity)
        )
        current = session.scalar(
            select(func.count())
            .select_from(fact)
            .join(VectorPoint, _current_points(fact, entity))
            .where(fact.tenant_id == tenant_id, fact.deleted_at.is_(None))
        )
        result.append(EntityCounts(entity, facts or 0, points or 0, current or 0))
    return result


def tenant_collections(session: Session, tenant_id: int) -> list[str]:
    """The Qdrant collections holding this tenant's points (one, unless it changed model)."""
    stmt = (
        select(VectorPoint.collection)
        .where(VectorPoint.tenant_id == tenant_id)
        .distinct()
        .order_by(VectorPoint.collection)
    )
    return list(session.scalars(stmt))
