"""What a batch of vectorize requests asks for, decided against the database: which facts to
embed (with their text), which are unchanged, which are gone.

The text of a fact is built from its current PostgreSQL row by the same template the transform
used for its `content_hash` (`work_item_text`, `pull_request_text`), and the two hashes must
agree: a mismatch means the row was written by another version of the template, and embedding
it would store a vector the row's hash does not describe. Such a fact is reported (and
dead-lettered by the caller), not embedded; a replay of the tenant rewrites its hash.

Requests carry ids, not text, so a stale or duplicate request costs a query, never a wrong
vector: the skip test is "vector_points holds this content hash from this model".
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from dataflows.rules.github_pr import pull_request_text
from dataflows.rules.jira_issue import work_item_text
from pulse.messages import VectorizeRequest
from storage import vectors

__all__ = ["FactText", "Gone", "Mismatch", "Plan", "fact_text", "plan_requests"]

_TEMPLATES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "work_item": work_item_text,
    "pull_request": pull_request_text,
}


@dataclass(frozen=True, slots=True)
class FactText:
    """One fact to embed, with what its point's payload carries."""

    tenant_id: int
    integration_id: int
    entity: str
    external_id: str
    text: str
    content_hash: str
    key: str
    title: str | None
    url: str | None
    raw_id: int | None
    job_run_id: int | None  # the run that last loaded the fact


@dataclass(frozen=True, slots=True)
class Gone:
    """A requested fact with no live row: never loaded, or deleted at the source."""

    tenant_id: int
    integration_id: int
    entity: str
    external_id: str
    point: vectors.StoredPoint | None  # its point, to delete


@dataclass(frozen=True, slots=True)
class Mismatch:
    fact: FactText
    stored_hash: str | None


@dataclass(slots=True)
class Plan:
    embed: list[FactText] = field(default_factory=list)
    unchanged: int = 0
    gone: list[Gone] = field(default_factory=list)
    mismatched: list[Mismatch] = field(default_factory=list)
    # Points of facts in `embed` that live in another collection (the tenant changed model):
    # collection → point ids, deleted once the new points are written.
    moved: dict[str, list[str]] = field(default_factory=dict)
    runs: dict[int, set[int]] = field(default_factory=dict)  # tenant → runs to recount


def fact_text(tenant_id: int, entity: str, row: Mapping[str, Any]) -> FactText:
    text = _TEMPLATES[entity](row)
    if entity == "work_item":
        key, title, url = str(row["key"]), row["summary"], None
    else:
        key, title, url = f"{row['repository_full_name']}#{row['number']}", row["title"], row["url"]
    return FactText(
        tenant_id=tenant_id,
        integration_id=row["integration_id"],
        entity=entity,
        external_id=row["external_id"],
        text=text,
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        key=key,
        title=title,
        url=url,
        raw_id=row["raw_id"],
        job_run_id=row["last_job_run_id"],
    )


def _grouped(
    requests: Iterable[VectorizeRequest],
) -> dict[tuple[int, int, str], list[str]]:
    """(tenant, integration, entity) → the union of requested ids, in first-seen order."""
    groups: dict[tuple[int, int, str], dict[str, None]] = {}
    for request in requests:
        ids = groups.setdefault((request.tenant_id, request.integration_id, request.entity), {})
        ids.update(dict.fromkeys(request.external_ids))
    return {key: list(ids) for key, ids in groups.items()}


def plan_requests(
    session: Session, requests: Iterable[VectorizeRequest], *, model: str, collection: str
) -> Plan:
    """Read the facts and their vector_points rows (two queries per tenant, integration and
    entity) and sort every requested id into embed / unchanged / gone / mismatched."""
    plan = Plan()
    requests = list(requests)
    for request in requests:
        if request.job_run_id is not None:
            plan.runs.setdefault(request.tenant_id, set()).add(request.job_run_id)
    for (tenant, integration, entity), ids in _grouped(requests).items():
        rows = {
            row["external_id"]: row
            for row in vectors.fact_rows(session, tenant, integration, entity, ids)
        }
        stored = vectors.stored_points(session, tenant, integration, entity, ids)
        runs = plan.runs.setdefault(tenant, set())
        for external_id in ids:
            row = rows.get(external_id)
            point = stored.get(external_id)
            if row is None or row["deleted_at"] is not None:
                plan.gone.append(Gone(tenant, integration, entity, external_id, point))
                continue
            if row["last_job_run_id"] is not None:
                runs.add(row["last_job_run_id"])
            fact = fact_text(tenant, entity, row)
            if fact.content_hash != row["content_hash"]:
                plan.mismatched.append(Mismatch(fact, row["content_hash"]))
                continue
            if (
                point is not None
                and point.content_hash == fact.content_hash
                and point.model == model
                and point.collection == collection
            ):
                plan.unchanged += 1
                continue
            plan.embed.append(fact)
            if point is not None and point.collection != collection:
                plan.moved.setdefault(point.collection, []).append(point.point_id)
    return plan
