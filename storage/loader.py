"""The load stage's write: one tenant's transformed batch, applied in one transaction.

`load_batch(session, batch)` runs inside the caller's `session.begin()` and either applies the
whole batch or raises with nothing of it written:

1. upserts in dependency order — projects, work_item_types, statuses, custom_fields,
   repositories, sprints, work_items, pull_requests — by the schema's natural keys, guarded by
   `(version, config_version)` (COPY on PostgreSQL, the row path on SQLite);
2. replaces the children of every work item and pull request the upsert wrote (transitions,
   sprint memberships; commits, reviews, comments) — and only of those, so a replayed equal or
   older version touches nothing;
3. writes work_item_pr_links (see `storage.loader_links` for the replacement rules and for
   dev-status links whose work item is not loaded yet);
4. marks the batch's raw records processed (transformed, deduped away, or dead-lettered);
5. sets each run's `loaded` count from the rows (work items + pull requests whose
   `last_job_run_id` is the run), so a replayed batch never counts twice.

On PostgreSQL the number of statements is fixed per table, whatever the batch size.

The result lists the facts whose content hash changed (new facts included): those, and only
those, need a new embedding. A fact rewritten with the same text is not listed.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from storage import raw_store
from storage.loader_facts import (
    CHILDREN,
    FactWrite,
    replace_children,
    upsert_facts,
    upsert_statuses,
    with_children_hash,
)
from storage.loader_links import KEY_SOURCES, check_links, load_links
from storage.loader_sql import (
    LINKS,
    NATURAL_KEY,
    LoadError,
    TransientLoadError,
    database_error,
    guard_of,
    table,
    upsert,
)

__all__ = [
    "DATETIME_COLUMNS",
    "TABLE_ORDER",
    "ChangedFact",
    "LoadBatch",
    "LoadError",
    "LoadResult",
    "TransientLoadError",
    "load_batch",
]

logger = logging.getLogger(__name__)

# Every table a batch may hold rows for, in the order they are written.
TABLE_ORDER = (
    "projects",
    "work_item_types",
    "statuses",
    "custom_fields",
    "repositories",
    "sprints",
    "work_items",
    "pull_requests",
    *(spec.table for spec in CHILDREN),
    LINKS,
)


def _timestamp_columns() -> dict[str, frozenset[str]]:
    from storage.schema.base import UTCDateTime

    return {
        name: frozenset(c.name for c in table(name).c if isinstance(c.type, UTCDateTime))
        for name in TABLE_ORDER
    }


# table → its timestamp columns: what a load message's consumer turns back into datetimes.
DATETIME_COLUMNS = _timestamp_columns()
_CATALOG = ("projects", "work_item_types", "statuses", "custom_fields", "repositories", "sprints")
_FACTS = {"work_items": "work_item", "pull_requests": "pull_request"}  # table → vector entity
# The columns the loader keys and guards a row by (catalog and facts: `_VERSIONED`); the
# link's work item is checked by `check_links` (dev-status rows may name it by id only).
_VERSIONED = (*NATURAL_KEY, "version")
_REQUIRED = {
    **{spec.table: ("tenant_id", "integration_id", spec.ref) for spec in CHILDREN},
    LINKS: (
        "tenant_id",
        "integration_id",
        "repository_full_name",
        "pr_number",
        "link_source",
        "version",
    ),
}
# Rows that belong to one work item / pull request record, kept or dropped with it.
_OWNED = {
    "work_items": ("work_item_transitions", "work_item_sprints"),
    "pull_requests": ("pr_commits", "pr_reviews", "pr_comments", LINKS),
}


@dataclass(frozen=True, slots=True)
class LoadBatch:
    """One tenant's transformed records, ready to load.

    `rows`: rows by table, as the transform rules emit them (children carry their parent's
    external id). `raw_ids`: every raw record the batch covers, including records the
    transform deduped away; `dead_raw_ids`: records that failed the transform (their error is
    in dead_letters). Both are marked processed with the batch.
    """

    tenant_id: int
    job_run_id: int | None
    rows: Mapping[str, Sequence[Mapping[str, Any]]]
    raw_ids: Sequence[int] = ()
    dead_raw_ids: Sequence[int] = ()

    @classmethod
    def from_outputs(
        cls,
        tenant_id: int,
        job_run_id: int | None,
        outputs: Iterable[Mapping[str, Sequence[Mapping[str, Any]]]],
        *,
        raw_ids: Sequence[int] = (),
        dead_raw_ids: Sequence[int] = (),
    ) -> LoadBatch:
        """Merge the rows of many records (each a `TransformOutput.rows`). When several
        records carry the same work item or pull request, the newest by `(version,
        config_version)` is kept with its children and links (the later one on ties)."""
        shared: dict[str, list[Mapping[str, Any]]] = {}
        owned: dict[tuple[str, int, str], tuple[tuple[Any, ...], dict[str, list[Any]]]] = {}
        for output in outputs:
            parents = [(t, r) for t in _OWNED for r in output.get(t, ())]
            if len(parents) != 1:  # a catalog or dev-status record
                for name, rows in output.items():
                    shared.setdefault(name, []).extend(rows)
                continue
            parent_table, parent = parents[0]
            mine: dict[str, list[Any]] = {parent_table: [parent]}
            for name, rows in output.items():
                if name == parent_table:
                    continue
                for row in rows:
                    if name in _OWNED[parent_table] and (
                        name != LINKS or row.get("link_source") in KEY_SOURCES
                    ):
                        mine.setdefault(name, []).append(row)
                    else:
                        shared.setdefault(name, []).append(row)
            key = (parent_table, parent["integration_id"], parent["external_id"])
            held = owned.get(key)
            if held is None or guard_of(parent) >= held[0]:
                owned[key] = (guard_of(parent), mine)
        for _, mine in owned.values():
            for name, rows in mine.items():
                shared.setdefault(name, []).extend(rows)
        return cls(tenant_id, job_run_id, shared, tuple(raw_ids), tuple(dead_raw_ids))


@dataclass(frozen=True, slots=True)
class ChangedFact:
    """A fact whose embedded text changed: send it to vectorize."""

    entity: str  # work_item | pull_request (as in vector_points.entity)
    integration_id: int
    external_id: str
    content_hash: str | None


@dataclass(frozen=True, slots=True)
class LoadResult:
    written: dict[str, int]  # table → rows inserted or updated (children: rows inserted)
    changed: list[ChangedFact]
    unresolved_links: int = 0  # dev-status links waiting for their work item
    deferred_raw_ids: frozenset[int] = frozenset()  # their raw records, left unprocessed
    loaded: dict[int, int] = field(default_factory=dict)  # job run id → its loaded count

    @property
    def total_written(self) -> int:
        return sum(self.written.values())


def load_batch(session: Session, batch: LoadBatch) -> LoadResult:
    """Apply `batch` in the caller's transaction. Raises `LoadError` for a batch that can
    never load (the caller rolls back and dead-letters it) and `TransientLoadError` for a
    database failure worth retrying."""
    _check(batch)
    progress = _Progress()
    try:
        return _load(session, batch, progress)
    except (StatementError, psycopg.Error, sqlite3.Error) as exc:
        raise database_error(
            exc,
            f"loading the batch failed at {progress.table}",
            tenant=batch.tenant_id,
            job_run=batch.job_run_id,
            table=progress.table,
        ) from exc


@dataclass(slots=True)
class _Progress:
    table: str = "start"


def _load(session: Session, batch: LoadBatch, progress: _Progress) -> LoadResult:
    conn = session.connection()
    tenant = batch.tenant_id
    rows = batch.rows
    written: dict[str, int] = {}
    for name in _CATALOG:
        progress.table = name
        if name == "statuses":
            written[name] = upsert_statuses(conn, rows.get(name, ()))
        elif rows.get(name):
            written[name] = upsert(conn, table(name), rows[name], NATURAL_KEY).written
    facts: dict[str, FactWrite] = {}
    for name in _FACTS:
        progress.table = name
        remember = ("repository_full_name", "number") if name == "pull_requests" else ()
        fact_rows = with_children_hash(name, rows)
        facts[name] = upsert_facts(conn, name, fact_rows, tenant, remember=remember)
        written[name] = len(facts[name].written)
    for spec in CHILDREN:
        progress.table = spec.table
        written[spec.table] = replace_children(
            conn, spec, rows.get(spec.table, ()), facts[spec.parent]
        )
    progress.table = LINKS
    links = load_links(
        conn, tenant, rows.get(LINKS, ()), rows.get("pull_requests", ()), facts["pull_requests"]
    )
    written[LINKS] = links.written
    progress.table = "raw_records"
    processed = (set(batch.raw_ids) | set(batch.dead_raw_ids)) - links.deferred_raw_ids
    raw_store.mark_processed(session, sorted(processed))
    progress.table = "job_runs"
    loaded = _recount_loaded(conn, tenant, _runs_of(batch))
    changed = [
        ChangedFact(entity, key[0], key[1], digest)
        for name, entity in _FACTS.items()
        for key, digest in facts[name].changed
    ]
    written = {name: written.get(name, 0) for name in TABLE_ORDER}
    result = LoadResult(written, changed, links.unresolved, links.deferred_raw_ids, loaded)
    logger.debug(
        "loaded batch",
        extra={"tenant_id": tenant, "job_run_id": batch.job_run_id, "written": written},
    )
    return result


def _runs_of(batch: LoadBatch) -> set[int]:
    runs = {batch.job_run_id} | {
        row.get("last_job_run_id") for name in _FACTS for row in batch.rows.get(name, ())
    }
    return {run for run in runs if run is not None}


def _recount_loaded(conn: Connection, tenant_id: int, runs: set[int]) -> dict[int, int]:
    """`loaded` of each run := its work items + pull requests, counted from the rows."""
    if not runs:
        return {}
    job_runs = table("job_runs")
    counts = [
        select(func.count())
        .select_from(table(name))
        .where(
            table(name).c.tenant_id == job_runs.c.tenant_id,
            table(name).c.last_job_run_id == job_runs.c.id,
        )
        .scalar_subquery()
        for name in _FACTS
    ]
    stmt = (
        update(job_runs)
        .where(job_runs.c.id.in_(sorted(runs)), job_runs.c.tenant_id == tenant_id)
        .values(loaded=counts[0] + counts[1])
        .returning(job_runs.c.id, job_runs.c.loaded)
    )
    return {run: loaded for run, loaded in conn.execute(stmt)}


def _check(batch: LoadBatch) -> None:
    """Refuse a batch the loader would have to guess about, before writing anything."""
    try:
        _check_rows(batch)
        check_links(batch.rows.get(LINKS, ()), batch.rows.get("pull_requests", ()), batch.tenant_id)
    except LoadError as exc:
        if batch.job_run_id is not None:
            exc.context.setdefault("job_run", batch.job_run_id)
        raise


def _check_rows(batch: LoadBatch) -> None:
    tenant = batch.tenant_id
    for name, rows in batch.rows.items():
        if name not in TABLE_ORDER:
            raise LoadError(
                f"the batch holds rows for {name!r}, a table the loader does not write",
                tenant=tenant,
                table=name,
            )
        needed = _REQUIRED.get(name, _VERSIONED)
        for row in rows:
            if row.get("tenant_id") != tenant:
                raise LoadError(
                    f"a {name} row belongs to tenant {row.get('tenant_id')!r}, not the batch's",
                    tenant=tenant,
                    table=name,
                )
            missing = [c for c in needed if row.get(c) is None]
            if missing:
                raise LoadError(
                    f"a {name} row has no {', '.join(missing)}",
                    tenant=tenant,
                    table=name,
                    raw_id=row.get("raw_id"),
                )
    parents: dict[str, set[tuple[Any, Any]]] = {}
    for name in _FACTS:
        seen: set[tuple[Any, Any]] = set()
        for row in batch.rows.get(name, ()):
            key = (row.get("integration_id"), row.get("external_id"))
            if key in seen:
                raise LoadError(
                    f"the batch holds {name} {key[1]!r} twice, so its children are ambiguous; "
                    "build it with LoadBatch.from_outputs, which keeps each item's newest record",
                    tenant=tenant,
                    table=name,
                )
            seen.add(key)
        parents[name] = seen
    for spec in CHILDREN:
        for row in batch.rows.get(spec.table, ()):
            if (row.get("integration_id"), row.get(spec.ref)) not in parents[spec.parent]:
                raise LoadError(
                    f"a {spec.table} row names {spec.ref} {row.get(spec.ref)!r}, "
                    f"which is not among the batch's {spec.parent}",
                    tenant=tenant,
                    table=spec.table,
                )
