"""Replay: re-transform a tenant's stored raw records through the same stages, with zero API
calls — after a mapping change, or to rebuild facts.

`queue_replay` puts the newest raw record of each item back in the outbox (and marks it
unprocessed) in one transaction; the relay then hands those records to the transform stage
exactly as after an extract: to the `etl.raw` streams when RabbitMQ is configured (the running
`pulse flow` shards pick them up), or to the embedded pipeline. Progress is the tenant's count
of unprocessed raw records, read from the database. Replaying twice writes the same rows: the
facts' version guard includes the tenant's config version, so only a configuration change
rewrites a row whose source did not change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from connectors.extract.relay import BatchSink, relay_once
from storage import raw_store
from storage.db import transaction

Progress = Callable[[int, int], None]  # (processed, queued)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    queued: int
    published: int
    seconds: float


def replay_tenant(
    factory: sessionmaker[Session],
    tenant_id: int,
    sink: BatchSink,
    *,
    partitions: int,
    batch_size: int,
    integration_id: int | None = None,
    entity: str | None = None,
    after_relay: Callable[[], object] | None = None,
) -> ReplayResult:
    """Queue and relay the replay. `after_relay` runs after each relayed chunk (the embedded
    pipeline processes what it was handed there)."""
    started = time.monotonic()
    with transaction(factory) as session:
        queued = raw_store.queue_replay(
            session,
            tenant_id,
            partitions=partitions,
            integration_id=integration_id,
            entity=entity,
        )
    published = 0
    while sent := relay_once(factory, sink, batch_size=batch_size):
        published += sent
        if after_relay is not None:
            after_relay()
    return ReplayResult(queued, published, time.monotonic() - started)


def wait_processed(
    factory: sessionmaker[Session],
    tenant_id: int,
    queued: int,
    *,
    timeout: float,
    progress: Progress | None = None,
    poll: float = 0.2,
) -> int:
    """Wait until the tenant has no unprocessed raw record; returns how many are left (0 unless
    the timeout passed)."""
    deadline = time.monotonic() + timeout
    while True:
        with factory() as session:
            left = raw_store.unprocessed_count(session, tenant_id)
        if progress is not None:
            progress(max(queued - left, 0), queued)
        if left == 0 or time.monotonic() >= deadline:
            return left
        time.sleep(poll)
