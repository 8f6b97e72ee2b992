"""The vectorize step itself, without any queue: requests → texts → embeddings → Qdrant →
vector_points. The RabbitMQ worker, the embedded pipeline and the demo all call
`vectorize_facts`.

Order of writes, and why it is safe to die anywhere:

1. read the facts and vector_points (no writes);
2. embed in chunks; each chunk is upserted into Qdrant while the next one is embedded, and
   every write is awaited before step 3. An embedding failure raises before its chunk is
   written, so no placeholder vector can exist; deterministic point ids make a retry
   overwrite, never add;
3. delete the Qdrant points of facts that are gone or moved to another model's collection;
4. one PostgreSQL transaction: vector_points rows, removals, dead letters for hash mismatches,
   and `job_runs.vectorized` recounted from rows.

Killed before step 4, Qdrant is ahead of vector_points; the redelivered request finds the old
hash in vector_points and embeds again (a wasted embedding, never a wrong or missing one).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from dataflows.vectorize.embedders import TenantEmbedders
from dataflows.vectorize.providers import Embedder
from dataflows.vectorize.store import Point, QdrantStore, collection_name, point_id, tenant_key
from dataflows.vectorize.texts import FactText, Mismatch, Plan, plan_requests
from pulse.errors import FatalError
from pulse.messages import VectorizeRequest
from storage import run_state, vectors
from storage.db import transaction
from storage.schema import utcnow

__all__ = ["VectorizeResult", "group_by_embedder", "vectorize_facts", "vectorize_group"]

log = logging.getLogger(__name__)

STAGE = "vectorize"
# Texts per embedding call and points per Qdrant write: one model batch. Small, because the
# last chunk's write cannot overlap anything (in local mode ~9 ms a point: one commit each).
_CHUNK = 64


@dataclass(slots=True)
class VectorizeResult:
    embedded: int = 0
    unchanged: int = 0
    gone: int = 0  # requested facts with no live row (skipped; their points removed)
    mismatched: int = 0  # dead-lettered: the row's content_hash is not its text's
    removed_points: int = 0
    vectorized: dict[int, int] = field(default_factory=dict)  # job run → its vectorized count
    gone_ids: list[str] = field(default_factory=list)

    def add(self, other: VectorizeResult) -> None:
        self.embedded += other.embedded
        self.unchanged += other.unchanged
        self.gone += other.gone
        self.mismatched += other.mismatched
        self.removed_points += other.removed_points
        self.vectorized.update(other.vectorized)
        self.gone_ids.extend(other.gone_ids)


def group_by_embedder(
    embedder: Embedder | TenantEmbedders, requests: Sequence[VectorizeRequest]
) -> list[tuple[Embedder, list[VectorizeRequest]]]:
    """Requests sharing an embedder are embedded together (the local model batches across
    tenants). Resolving a tenant's embedder may raise (its configuration is wrong)."""
    if not isinstance(embedder, TenantEmbedders):
        return [(embedder, list(requests))] if requests else []
    groups: dict[int, tuple[Embedder, list[VectorizeRequest]]] = {}
    for request in requests:
        chosen = embedder.for_tenant(request.tenant_id)
        groups.setdefault(id(chosen), (chosen, []))[1].append(request)
    return list(groups.values())


def vectorize_facts(
    factory: sessionmaker[Session],
    embedder: Embedder | TenantEmbedders,
    store: QdrantStore,
    requests: Sequence[VectorizeRequest],
) -> VectorizeResult:
    """Embed what the requests name and what changed; raises on the first failure (nothing of
    the failing embedder group is written; earlier groups stay written, and are skipped as
    unchanged when the requests come again)."""
    result = VectorizeResult()
    for chosen, group in group_by_embedder(embedder, requests):
        result.add(vectorize_group(factory, chosen, store, group))
    return result


def vectorize_group(
    factory: sessionmaker[Session],
    embedder: Embedder,
    store: QdrantStore,
    requests: Sequence[VectorizeRequest],
) -> VectorizeResult:
    """Requests whose tenants all use `embedder`: the unit the worker acks or retries."""
    collection = collection_name(embedder.model, embedder.dimension)
    with factory() as session:
        plan = plan_requests(session, requests, model=embedder.model, collection=collection)
    if plan.embed:
        store.ensure_collection(collection, embedder.dimension)
        _embed_into(embedder, store, collection, plan.embed)
    removed = _remove_points(store, plan)
    with transaction(factory) as session:
        _record(session, plan, embedder.model, collection)
        counts: dict[int, int] = {}
        for tenant, runs in plan.runs.items():
            counts.update(vectors.recount_vectorized(session, tenant, runs))
    result = VectorizeResult(
        embedded=len(plan.embed),
        unchanged=plan.unchanged,
        gone=len(plan.gone),
        mismatched=len(plan.mismatched),
        removed_points=removed,
        vectorized=counts,
        gone_ids=[g.external_id for g in plan.gone],
    )
    if plan.gone:
        log.info(
            "skipped requested facts that have no live row",
            extra={"count": len(plan.gone), "external_ids": result.gone_ids[:20]},
        )
    return result


def _embed_into(
    embedder: Embedder, store: QdrantStore, collection: str, facts: Sequence[FactText]
) -> None:
    """Embed chunk by chunk and upsert each chunk on a second thread while the next one is
    embedded: the model is CPU-bound and a Qdrant write mostly waits (on the network, or on
    fsync in local mode, which commits every point), so the two overlap instead of adding up.
    At most one write is in flight and each is awaited before the next is handed over, so the
    store is used by one thread at a time. Texts are chunked longest first, so each model
    batch pads little (what one big encode call would do by sorting)."""
    ordered = sorted(facts, key=lambda fact: len(fact.text), reverse=True)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qdrant-upsert") as writer:
        in_flight: Future[None] | None = None
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            embedded = embedder.embed([fact.text for fact in chunk])
            if len(embedded) != len(chunk):  # the providers check this too; trust no plugin
                raise FatalError(
                    f"embedder {embedder.model!r} returned {len(embedded)} vectors "
                    f"for {len(chunk)} texts"
                )
            points = [_point(fact, vector) for fact, vector in zip(chunk, embedded, strict=True)]
            if in_flight is not None:
                in_flight.result()  # raises the write's error
            in_flight = writer.submit(store.upsert, collection, points)
        if in_flight is not None:
            in_flight.result()


def _point(fact: FactText, vector: list[float]) -> Point:
    payload = {
        "tenant_id": tenant_key(fact.tenant_id),
        "integration_id": fact.integration_id,
        "entity": fact.entity,
        "external_id": fact.external_id,
        "key": fact.key,
        "title": fact.title,
        "url": fact.url,
        "raw_id": fact.raw_id,
        "job_run_id": fact.job_run_id,
        "content_hash": fact.content_hash,
    }
    pid = point_id(fact.tenant_id, fact.entity, fact.integration_id, fact.external_id)
    return Point(pid, vector, payload)


def _remove_points(store: QdrantStore, plan: Plan) -> int:
    by_collection: dict[str, list[str]] = {k: list(v) for k, v in plan.moved.items()}
    for gone in plan.gone:
        if gone.point is not None:
            by_collection.setdefault(gone.point.collection, []).append(gone.point.point_id)
    for collection, ids in by_collection.items():
        store.delete(collection, ids)
    return sum(len(ids) for ids in by_collection.values())


def _record(session: Session, plan: Plan, model: str, collection: str) -> None:
    now = utcnow()
    vectors.upsert_vector_points(
        session,
        [
            {
                "tenant_id": fact.tenant_id,
                "integration_id": fact.integration_id,
                "entity": fact.entity,
                "record_external_id": fact.external_id,
                "point_id": point_id(
                    fact.tenant_id, fact.entity, fact.integration_id, fact.external_id
                ),
                "collection": collection,
                "content_hash": fact.content_hash,
                "model": model,
                "embedded_at": now,
            }
            for fact in plan.embed
        ],
    )
    gone: dict[tuple[int, int, str], list[str]] = {}
    for item in plan.gone:
        if item.point is not None:
            gone.setdefault((item.tenant_id, item.integration_id, item.entity), []).append(
                item.external_id
            )
    for (tenant, integration, entity), ids in gone.items():
        vectors.delete_vector_points(session, tenant, integration, entity, ids)
    for mismatch in plan.mismatched:
        _dead_letter_mismatch(session, mismatch)


def _dead_letter_mismatch(session: Session, mismatch: Mismatch) -> None:
    """Kept once per fact and hash pair; the message is a request for that one fact, so a
    requeue from the UI after a replay embeds it. (The run stays in the message only: facts
    name their last run without a foreign key, so the column could refuse it.)"""
    fact = mismatch.fact
    request = VectorizeRequest(
        fact.tenant_id, fact.integration_id, fact.entity, [fact.external_id], fact.job_run_id
    )
    message = request.to_json().decode()
    error = (
        f"content hash mismatch for {fact.entity} {fact.external_id!r}: the row stores "
        f"{mismatch.stored_hash!r} but its text hashes to {fact.content_hash!r} (written by "
        "another version of the text template?); not embedded — replay the tenant"
    )
    if run_state.dead_letter_exists(session, stage=STAGE, error=error, message=message):
        return
    run_state.record_dead_letter(
        session,
        stage=STAGE,
        message=message,
        error=error,
        tenant_id=fact.tenant_id,
        integration_id=fact.integration_id,
        entity=fact.entity,
        external_id=fact.external_id,
    )
    log.warning("%s", error, extra={"tenant_id": fact.tenant_id})
