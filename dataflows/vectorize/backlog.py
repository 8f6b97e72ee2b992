"""The re-embed sweep: facts whose vector is missing or stale, found from the rows rather than
from messages. It catches what no request announced — a request dead-lettered and never
requeued, a tenant moved to another model, two workers racing on one fact — and it is how a
deployment fills Qdrant for facts loaded before vectorize workers ran."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from dataflows.vectorize.embedders import TenantEmbedders
from dataflows.vectorize.pipeline import VectorizeResult, vectorize_group
from dataflows.vectorize.providers import Embedder
from dataflows.vectorize.store import QdrantStore
from pulse.messages import VectorizeRequest
from storage import vectors

__all__ = ["backlog_requests", "sweep_tenant"]

log = logging.getLogger(__name__)

_REQUEST_SIZE = 100  # facts per request, as the load stage sends them


def backlog_requests(tenant_id: int, keys: list[vectors.FactKey]) -> list[VectorizeRequest]:
    groups: dict[tuple[int, str], list[str]] = {}
    for key in keys:
        groups.setdefault((key.integration_id, key.entity), []).append(key.external_id)
    return [
        VectorizeRequest(tenant_id, integration, entity, ids[i : i + _REQUEST_SIZE])
        for (integration, entity), ids in sorted(groups.items())
        for i in range(0, len(ids), _REQUEST_SIZE)
    ]


def sweep_tenant(
    factory: sessionmaker[Session],
    embedder: Embedder | TenantEmbedders,
    store: QdrantStore,
    tenant_id: int,
    *,
    page: int = 500,
) -> VectorizeResult:
    """Embed the tenant's whole backlog, `page` facts at a time; raises on the first failure
    (what was embedded before it stays)."""
    chosen = embedder.for_tenant(tenant_id) if isinstance(embedder, TenantEmbedders) else embedder
    total = VectorizeResult()
    after: vectors.FactKey | None = None
    while True:
        with factory() as session:
            keys = vectors.facts_needing_vectors(
                session, tenant_id, page, model=chosen.model, after=after
            )
        if not keys:
            return total
        total.add(vectorize_group(factory, chosen, store, backlog_requests(tenant_id, keys)))
        after = keys[-1]
        log.info("swept %s facts of tenant %s", total.embedded, tenant_id)
