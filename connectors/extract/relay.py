"""The outbox relay: publishes committed raw records to their stream partitions.

Rows are taken with `FOR UPDATE SKIP LOCKED`, so several relays share the work; a row is marked
published in the same transaction, after the broker confirmed the batch. A relay killed between
the two republishes that batch on restart; transform and load are idempotent.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from pulse.messages import RecordBatch
from storage import raw_store
from storage.db import transaction
from storage.raw_store import PendingRecord

log = logging.getLogger(__name__)

# (partition, batch) -> None once durably handed over (confirmed, or queued in-process).
BatchSink = Callable[[int, RecordBatch], None]


def batches_of(rows: Sequence[PendingRecord], batch_size: int) -> list[tuple[int, RecordBatch]]:
    """Group rows into messages of one (tenant, integration, run, entity), at most batch_size
    records each, keeping outbox order within a group. Records carry their payload, the stored
    JSON text spliced in unparsed: transform then reads nothing from the database (see
    docs/decisions.md, "Payload in the message")."""
    groups: dict[tuple[int, int, int | None, str, int], list[PendingRecord]] = defaultdict(list)
    for row in rows:
        groups[
            (row.tenant_id, row.integration_id, row.job_run_id, row.entity, row.partition)
        ].append(row)
    out: list[tuple[int, RecordBatch]] = []
    for (tenant_id, integration_id, run_id, entity, partition), members in groups.items():
        for start in range(0, len(members), batch_size):
            chunk = members[start : start + batch_size]
            records = [
                {
                    "raw_id": r.raw_id,
                    "external_id": r.external_id,
                    "version": r.version,
                    "payload": r.payload,
                }
                for r in chunk
            ]
            out.append((partition, RecordBatch(tenant_id, integration_id, run_id, entity, records)))
    return out


def relay_once(
    factory: sessionmaker[Session], sink: BatchSink, *, batch_size: int, limit: int = 2000
) -> int:
    """Publish up to `limit` pending outbox rows; returns how many were published."""
    with transaction(factory) as session:
        rows = raw_store.pending_outbox(session, limit)
        if not rows:
            return 0
        for partition, batch in batches_of(rows, batch_size):
            sink(partition, batch)
        raw_store.mark_published(session, [row.outbox_id for row in rows])
        return len(rows)


class OutboxRelay:
    """Polls the outbox in a thread until stopped. `wake()` shortens the wait after a commit."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        sink: BatchSink,
        *,
        batch_size: int,
        idle_seconds: float = 0.2,
    ) -> None:
        self._factory = factory
        self._sink = sink
        self._batch_size = batch_size
        self._idle = idle_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.published = 0
        self.error: BaseException | None = None

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        try:
            self._loop()
        finally:
            close = getattr(self._sink, "close", None)
            if close is not None:
                close()  # the sink's connection belongs to this thread

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                sent = relay_once(self._factory, self._sink, batch_size=self._batch_size)
            except Exception as exc:
                # Nothing was marked published; the next round retries the same rows.
                self.error = exc
                log.exception("outbox relay round failed; retrying")
                sent = 0
                self._stop.wait(min(5.0, self._idle * 10))
            self.published += sent
            if sent == 0:
                self._wake.wait(self._idle)
                self._wake.clear()
