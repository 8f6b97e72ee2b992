"""Embedded mode (no RABBITMQ_URL): transform and load in-process, for the demo and a first
look. The same functions as the dataflows run here — `unpack_batch`, `TenantWindow`,
`transform_for_tenant`, `LoadStage` — only the hand-off differs: the outbox relay gives this
pipeline each batch, and `process_pending` transforms and loads them after the relay's
transaction has committed (SQLite allows one writer at a time).

A batch accepted but not yet processed when the process dies is still an unprocessed raw
record in the database, so the outbox sweeper sends it again: nothing is lost.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from dataflows.batching import TenantWindow
from dataflows.dead_letters import DeadLetterWriter
from dataflows.load import LoadStage, RequestVectors
from dataflows.records import DeadItem, Record, unpack_batch
from dataflows.tenant_configs import TenantConfigs
from dataflows.transform_flow import transform_for_tenant
from pulse.messages import RecordBatch, VectorizeRequest
from pulse.settings import Settings
from storage.db import transaction
from storage.run_state import cancelled_runs

EMBEDDED_SOURCE = "embedded.raw"


@dataclass(slots=True)
class PipelineCounts:
    records: int = 0
    dead: int = 0
    dropped: int = 0
    written: int = 0
    vectorize_requests: int = 0


class EmbeddedPipeline:
    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        batch_size: int,
        request_vectors: RequestVectors | None = None,
        on_loaded: Callable[[int, PipelineCounts], None] | None = None,
    ) -> None:
        self._factory = factory
        self._batch_size = batch_size
        self._configs = TenantConfigs(factory, refresh_seconds=0.0)
        self._dead = DeadLetterWriter(factory)
        self._load = LoadStage(factory, self._dead, request_vectors)
        self._pending: deque[RecordBatch] = deque()
        self._on_loaded = on_loaded
        self.counts = PipelineCounts()

    def accept(self, partition: int, batch: RecordBatch) -> None:
        """The relay's sink: keep the batch until `process_pending`."""
        self._pending.append(batch)

    def process_pending(self) -> PipelineCounts:
        while self._pending:
            self._process(self._pending.popleft())
        return self.counts

    def _process(self, batch: RecordBatch) -> None:
        # Through the message form, as a stream consumer reads it: the relay splices stored
        # payloads in as JSON text, which only the encoded message resolves.
        batch = RecordBatch.from_json(batch.to_json())
        items = unpack_batch(batch, EMBEDDED_SOURCE, where=f"tenant {batch.tenant_id}")
        self._write_dead([item for item in items if isinstance(item, DeadItem)])
        records: list[Record] = [item for item in items if not isinstance(item, DeadItem)]
        window = TenantWindow(None, max_size=self._batch_size, max_delay=timedelta(0))
        flushed, _ = window.on_batch(records)
        rest, _ = window.on_notify()
        for window_batch in [*flushed, *rest]:
            transformed = transform_for_tenant(
                batch.tenant_id, window_batch, self._configs, self._cancelled
            )
            # Dead letters first: a record marked processed always has its dead letter.
            self._write_dead(transformed.dead)
            loaded = self._load.load(batch.tenant_id, [transformed.load])
            self.counts.records += len(window_batch.records)
            self.counts.dropped += transformed.dropped
            self.counts.written += loaded.written
            self.counts.vectorize_requests += loaded.vectorize_requests
            if self._on_loaded is not None:
                self._on_loaded(batch.tenant_id, self.counts)

    def _write_dead(self, dead: list[DeadItem]) -> None:
        if dead:
            self._dead.write(dead)
            self.counts.dead += len(dead)

    def _cancelled(self, runs: set[int]) -> set[int]:
        if not runs:
            return set()
        with transaction(self._factory) as session:
            return cancelled_runs(session, runs)


@contextmanager
def embedded_vectorizer(
    factory: sessionmaker[Session], settings: Settings
) -> Iterator[RequestVectors]:
    """The embedded pipeline's vectorize step: requests are embedded in-process (local model or
    the tenant's embedding integration) into Qdrant at QDRANT_URL or local QDRANT_PATH."""
    from dataflows.vectorize import LocalEmbedder, TenantEmbedders, open_store, vectorize_facts
    from storage.crypto import cipher_for

    embedders = TenantEmbedders(
        factory,
        cipher_for(settings),
        provider=settings.embedding_provider,
        local=LocalEmbedder(),
    )
    store = open_store(settings)

    def vectorize(requests: Sequence[VectorizeRequest]) -> None:
        vectorize_facts(factory, embedders, store, requests)

    try:
        yield vectorize
    finally:
        store.close()
        embedders.close()
