"""Embedded mode (no RABBITMQ_URL): the same extraction, in-process.

Pages commit exactly as in production (raw rows, checkpoint and outbox in one transaction);
after every page the outbox is drained into an in-process sink — the embedded pipeline's
transform — instead of the `etl.raw` streams. The outbox keeps its guarantee: a row is marked
published only after the sink took its batch.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from connectors.extract.relay import BatchSink, relay_once
from connectors.extract.runner import ExtractRunner, RunResult, StreamFactory


def drain_outbox(factory: sessionmaker[Session], sink: BatchSink, *, batch_size: int) -> int:
    total = 0
    while sent := relay_once(factory, sink, batch_size=batch_size):
        total += sent
    return total


def extract_in_process(
    factory: sessionmaker[Session],
    streams_for: StreamFactory,
    run_id: int,
    sink: BatchSink,
    *,
    partitions: int,
    max_retries: int,
    batch_size: int,
    after_drain: Callable[[], object] | None = None,
) -> RunResult:
    """Run one job run's extraction, handing every committed page's records to `sink`;
    `after_drain` runs after each hand-off, outside the relay's transaction (the embedded
    pipeline transforms and loads there)."""

    def after_page(*_: object) -> None:
        drain_outbox(factory, sink, batch_size=batch_size)
        if after_drain is not None:
            after_drain()

    runner = ExtractRunner(
        factory,
        streams_for,
        partitions=partitions,
        max_retries=max_retries,
        on_page=after_page,
    )
    result = runner.run(run_id)
    after_page()  # e.g. rows left by an earlier crash
    return result
