"""Tenant-scoped semantic search and the PostgreSQL-vs-Qdrant counts, for the web UI.

The tenant id comes from the caller's verified session. The query is embedded with the
tenant's own embedder (vectors of another model would be meaningless in its collection), and
the store adds the tenant filter to every read, so no hit of another tenant can come back.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from dataflows.vectorize.embedders import TenantEmbedders
from dataflows.vectorize.providers import Embedder
from dataflows.vectorize.store import QdrantStore, collection_name
from pulse.messages import VECTOR_ENTITIES
from storage import vectors

__all__ = ["MAX_LIMIT", "Coverage", "SearchHit", "search", "vector_coverage"]

MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class SearchHit:
    entity: str
    integration_id: int
    external_id: str
    key: str
    title: str | None
    url: str | None
    score: float


def search(
    store: QdrantStore,
    embedder: Embedder | TenantEmbedders,
    tenant_id: int,
    query: str,
    *,
    entity: str | None = None,
    limit: int = 10,
) -> list[SearchHit]:
    """The `limit` facts of `tenant_id` nearest to `query`, best first. A blank query has no
    meaning and returns no hits (without embedding anything)."""
    if entity is not None and entity not in VECTOR_ENTITIES:
        raise ValueError(f"entity must be one of {VECTOR_ENTITIES}, got {entity!r}")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be in 1..{MAX_LIMIT}, got {limit}")
    if not query.strip():
        return []
    chosen = embedder.for_tenant(tenant_id) if isinstance(embedder, TenantEmbedders) else embedder
    (vector,) = chosen.embed([query.strip()])
    collection = collection_name(chosen.model, chosen.dimension)
    points = store.query(collection, vector, tenant_id=tenant_id, entity=entity, limit=limit)
    hits = []
    for point in points:
        payload = point.payload or {}
        hits.append(
            SearchHit(
                entity=str(payload["entity"]),
                integration_id=int(payload["integration_id"]),
                external_id=str(payload["external_id"]),
                key=str(payload["key"]),
                title=payload.get("title"),
                url=payload.get("url"),
                score=float(point.score),
            )
        )
    return hits


@dataclass(frozen=True, slots=True)
class Coverage:
    """One entity of one tenant: facts (not deleted) and vector_points rows in PostgreSQL, how
    many of those embed the current content, and the points Qdrant holds."""

    entity: str
    facts: int
    recorded: int
    current: int
    qdrant_points: int

    @property
    def in_sync(self) -> bool:
        return self.facts == self.current == self.recorded == self.qdrant_points


def vector_coverage(
    factory: sessionmaker[Session], store: QdrantStore, tenant_id: int
) -> list[Coverage]:
    with factory() as session:
        counts = vectors.vector_counts(session, tenant_id)
        collections = vectors.tenant_collections(session, tenant_id)
    return [
        Coverage(
            entity=c.entity,
            facts=c.facts,
            recorded=c.points,
            current=c.current,
            qdrant_points=sum(
                store.count(name, tenant_id=tenant_id, entity=c.entity) for name in collections
            ),
        )
        for c in counts
    ]
