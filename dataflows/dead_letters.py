"""Dead items → `dead_letters` (the record of truth, with the error) and the dead-letter queue
(`etl.dead.<stage>`, for operators' tooling), before the epoch that produced them commits.

Both dataflows route dead items to a `FixedPartitionedSink`, so with recovery on an epoch only
commits after its dead items are stored: a poison record is never lost, and the stream offset
moves past it so the flow carries on. A replayed epoch would store an item again; the writer
skips items already stored with the same stage, source, error and body.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from sqlalchemy.orm import Session, sessionmaker

from dataflows.rabbitmq.publisher import ConfirmedPublisher
from dataflows.rabbitmq.topology import DEAD_LETTER_EXCHANGE
from dataflows.records import DeadItem
from storage import raw_store
from storage.db import transaction
from storage.run_state import dead_letter_exists, record_dead_letter

# (routing key, body) → returns once the broker confirmed it.
DeadPublish = Callable[[str, bytes], None]


class DeadLetterWriter:
    def __init__(self, factory: sessionmaker[Session], publish: DeadPublish | None = None) -> None:
        self._factory = factory
        self._publish = publish

    def write(self, items: Sequence[DeadItem], *, processed_raw_ids: Sequence[int] = ()) -> int:
        """Store (and publish) the items; returns how many were new. Their raw records, and
        `processed_raw_ids` (e.g. the records of a refused load message), are marked processed
        in the same transaction, so their runs can complete."""
        fresh: list[DeadItem] = []
        with transaction(self._factory) as session:
            for item in items:
                if dead_letter_exists(
                    session, stage=item.stage, error=item.error, message=item.message
                ):
                    continue
                record_dead_letter(
                    session,
                    stage=item.stage,
                    message=item.message,
                    error=item.error,
                    tenant_id=item.tenant_id,
                    integration_id=item.integration_id,
                    job_run_id=item.job_run_id,
                    source_queue=item.source_queue,
                    entity=item.entity,
                    external_id=item.external_id,
                )
                fresh.append(item)
            raw_ids = [i.raw_id for i in items if i.raw_id is not None]
            raw_store.mark_processed(session, [*raw_ids, *processed_raw_ids])
        if self._publish is not None:
            for item in fresh:
                self._publish(item.dead_letter_routing_key, json.dumps(asdict(item)).encode())
        return len(fresh)


def rabbit_dead_publish(url: str, name: str) -> tuple[DeadPublish, Callable[[], None]]:
    """A confirmed publisher to the dead-letter exchange, opened on first use; and its closer."""
    holder: list[ConfirmedPublisher] = []

    def publish(routing_key: str, body: bytes) -> None:
        if not holder:
            holder.append(ConfirmedPublisher(url, name=name))
        holder[0].publish(DEAD_LETTER_EXCHANGE, routing_key, body)

    def close() -> None:
        while holder:
            holder.pop().close()

    return publish, close


class DeadLetterSink(FixedPartitionedSink[DeadItem, None]):
    """One partition per process: dead items are rare, and each write is one transaction."""

    def __init__(self, factory: sessionmaker[Session], rabbitmq_url: str | None) -> None:
        self._factory = factory
        self._url = rabbitmq_url

    def list_parts(self) -> list[str]:
        return ["dead_letters"]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _DeadLetterPartition:
        return _DeadLetterPartition(self._factory, self._url, name=f"{step_id}:{for_part}")


class _DeadLetterPartition(StatefulSinkPartition[DeadItem, None]):
    def __init__(self, factory: sessionmaker[Session], url: str | None, *, name: str) -> None:
        self._close: Callable[[], None] = lambda: None
        publish = None
        if url is not None:
            publish, self._close = rabbit_dead_publish(url, name)
        self._writer = DeadLetterWriter(factory, publish)

    def write_batch(self, values: list[DeadItem]) -> None:
        self._writer.write(values)

    def snapshot(self) -> None:
        return None

    def close(self) -> None:
        self._close()
