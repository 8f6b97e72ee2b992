"""What the queues and Qdrant pages need from outside systems, one instance per web process.

* `QueueAccess`: the jobs helper's `QueueMonitor` (one kept per process, so stream rates come
  from the change between two snapshots), its snapshot cached for `SNAPSHOT_SECONDS` so many
  open pages polling every few seconds cost one AMQP round per interval; dead letters through
  `pulse.ops.DeadLetters`, always with the caller's tenant.
* `VectorAccess`: the vectorize helper's Qdrant store and tenant embedders (`dataflows.
  vectorize`), opened on first use; neither is thread-safe, so calls are serialised.

Both answer "not configured" plainly (embedded mode has no queues) instead of failing a page.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from dataflows.vectorize import (
    Coverage,
    Embedder,
    QdrantStore,
    SearchHit,
    TenantEmbedders,
    open_store,
    search,
    vector_coverage,
)
from pulse.ops import DeadLetters, QueueMonitor, QueueStats
from pulse.settings import Settings
from storage import vectors
from storage.crypto import CredentialCipher

log = logging.getLogger(__name__)

SNAPSHOT_SECONDS = 2.0


@dataclass
class QueueAccess:
    settings: Settings
    factory: sessionmaker[Session]
    _monitor: QueueMonitor | None = None
    _cached: tuple[float, list[QueueStats]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def configured(self) -> bool:
        return self.settings.rabbitmq_url is not None

    def snapshot(self) -> list[QueueStats]:
        """Every queue's figures (system-wide: queues are shared by all tenants)."""
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < SNAPSHOT_SECONDS:
                return self._cached[1]
            if self._monitor is None:
                self._monitor = QueueMonitor.from_settings(self.settings, self.factory)
            stats = self._monitor.snapshot()
            self._cached = (now, stats)
            return stats

    def dead_letters(self) -> DeadLetters:
        return DeadLetters(
            self.factory,
            rabbitmq_url=self.settings.rabbitmq_url,
            partitions=self.settings.etl_partitions,
        )

    def close(self) -> None:
        if self._monitor is not None:
            self._monitor.close()


@dataclass(frozen=True, slots=True)
class CollectionHealth:
    name: str
    status: str  # green | yellow | red | grey, as Qdrant reports it
    points: int | None  # all tenants' points: the collection is shared
    indexed: int | None
    dimension: int | None
    distance: str | None


@dataclass
class VectorAccess:
    settings: Settings
    factory: sessionmaker[Session]
    cipher: CredentialCipher
    embedder: Embedder | None = None  # a fixed embedder (tests); else the tenant's own
    _store: QdrantStore | None = None
    _embedders: TenantEmbedders | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sweeps: dict[int, threading.Thread] = field(default_factory=dict)

    def store(self) -> QdrantStore:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    def _embedder(self) -> Embedder | TenantEmbedders:
        if self.embedder is not None:
            return self.embedder
        if self._embedders is None:
            self._embedders = TenantEmbedders(
                self.factory, self.cipher, provider=self.settings.embedding_provider
            )
        return self._embedders

    def coverage(self, tenant_id: int) -> list[Coverage]:
        with self._lock:
            return vector_coverage(self.factory, self.store(), tenant_id)

    def collections(self, tenant_id: int) -> list[CollectionHealth]:
        with self.factory() as session:
            names = vectors.tenant_collections(session, tenant_id)
        found = []
        with self._lock:
            client = self.store().client
            for name in names:
                if not client.collection_exists(name):
                    found.append(CollectionHealth(name, "missing", None, None, None, None))
                    continue
                info = client.get_collection(name)
                params: Any = info.config.params.vectors
                found.append(
                    CollectionHealth(
                        name=name,
                        status=str(getattr(info.status, "value", info.status)),
                        points=info.points_count,
                        indexed=info.indexed_vectors_count,
                        dimension=getattr(params, "size", None),
                        distance=str(getattr(getattr(params, "distance", None), "value", "")),
                    )
                )
        return found

    def search(
        self, tenant_id: int, query: str, *, entity: str | None, limit: int
    ) -> list[SearchHit]:
        with self._lock:
            return search(
                self.store(), self._embedder(), tenant_id, query, entity=entity, limit=limit
            )

    def sweeping(self, tenant_id: int) -> bool:
        thread = self._sweeps.get(tenant_id)
        return thread is not None and thread.is_alive()

    def reembed(self, tenant_id: int) -> str:
        """Embed the tenant's facts whose vector is missing or stale: as requests for the
        vectorize workers when RabbitMQ is configured, else in a background thread here."""
        if self.settings.rabbitmq_url is not None:
            return self._request_backlog(tenant_id)
        if self.sweeping(tenant_id):
            return "A re-embed of this tenant is already running."
        thread = threading.Thread(
            target=self._sweep, args=(tenant_id,), name=f"reembed-{tenant_id}", daemon=True
        )
        self._sweeps[tenant_id] = thread
        thread.start()
        return "Re-embedding started; the counts below fill in as it goes."

    def _sweep(self, tenant_id: int) -> None:
        from dataflows.vectorize.backlog import sweep_tenant

        try:
            with self._lock:
                result = sweep_tenant(self.factory, self._embedder(), self.store(), tenant_id)
            log.info("re-embedded %s facts of tenant %s", result.embedded, tenant_id)
        except Exception:
            log.exception("re-embedding tenant %s failed", tenant_id)

    def _request_backlog(self, tenant_id: int) -> str:
        from dataflows.rabbitmq import VECTORIZE_QUEUE, ConfirmedPublisher
        from dataflows.vectorize.backlog import backlog_requests

        embedder = self._embedder()
        with self._lock:
            chosen = (
                embedder.for_tenant(tenant_id)
                if isinstance(embedder, TenantEmbedders)
                else embedder
            )
        sent, facts, after = 0, 0, None
        assert self.settings.rabbitmq_url is not None
        with ConfirmedPublisher(self.settings.rabbitmq_url, name="web-reembed") as publisher:
            while True:
                with self.factory() as session:
                    keys = vectors.facts_needing_vectors(
                        session, tenant_id, 1000, model=chosen.model, after=after
                    )
                if not keys:
                    break
                for request in backlog_requests(tenant_id, keys):
                    publisher.publish("", VECTORIZE_QUEUE, request.to_json())
                    sent += 1
                facts += len(keys)
                after = keys[-1]
        if not facts:
            return "Every fact already has a current vector."
        return f"{facts:,} facts sent to the vectorize workers in {sent} request(s)."

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
