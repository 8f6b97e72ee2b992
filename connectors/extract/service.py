"""Assembles the extract process: worker (main thread), outbox relay and sweeper (threads),
and optionally the health and metrics port (raw records stored, errors by kind)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from connectors.extract.factory import StreamFactory
from connectors.extract.relay import OutboxRelay
from connectors.extract.runner import ExtractRunner
from connectors.extract.worker import ExtractWorker
from dataflows.rabbitmq import ConfirmedPublisher, Topology
from pulse.messages import RecordBatch
from pulse.ops.metrics import Metrics
from pulse.ops.probes import serve_worker_health
from pulse.settings import Settings
from storage import raw_store
from storage.crypto import cipher_for
from storage.db import make_engine, session_factory, transaction
from storage.heartbeats import Heartbeat
from storage.schema import utcnow

log = logging.getLogger(__name__)

SWEEP_EVERY = timedelta(minutes=1)
STALE_AFTER = timedelta(minutes=15)
# The worker's loop beats twice a second, also while a run is extracted in its thread.
HEALTH_PATIENCE = 60.0


class StreamPublisher:
    """The relay's sink: confirmed publishing to `etl.raw` from the relay's own thread."""

    def __init__(self, url: str, name: str) -> None:
        self._url, self._name = url, name
        self._publisher: ConfirmedPublisher | None = None

    def __call__(self, partition: int, batch: RecordBatch) -> None:
        if self._publisher is None:
            self._publisher = ConfirmedPublisher(self._url, name=self._name)
        try:
            self._publisher.publish(Topology.exchange("raw"), str(partition), batch.to_json())
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None


def sweep_forever(factory: sessionmaker[Session], partitions: int, stop: threading.Event) -> None:
    while not stop.wait(SWEEP_EVERY.total_seconds()):
        try:
            with transaction(factory) as session:
                count = raw_store.requeue_stale(
                    session, older_than=utcnow() - STALE_AFTER, partitions=partitions
                )
            if count:
                log.warning("sweeper re-queued %s raw records that were never processed", count)
        except Exception:
            log.exception("sweep failed; will retry")


def run_extract_process(
    settings: Settings, *, name: str = "extract", health_port: int | None = None
) -> None:
    if settings.rabbitmq_url is None:
        raise SystemExit("pulse extract needs RABBITMQ_URL; the embedded mode runs `pulse demo`")
    engine = make_engine(settings.database_url)
    factory = session_factory(engine)
    metrics = Metrics()
    records = metrics.records.labels("extract")

    def on_page(_run: object, _stream: object, stored: int) -> None:
        records.inc(stored)
        relay.wake()

    topology = Topology(settings.etl_partitions, settings.etl_max_retries)
    heartbeat = Heartbeat(factory, name, "extract")
    relay = OutboxRelay(
        factory,
        StreamPublisher(settings.rabbitmq_url, f"{name}-relay"),
        batch_size=settings.etl_batch_size,
    )
    runner = ExtractRunner(
        factory,
        StreamFactory(factory, cipher_for(settings), max_retries=settings.etl_max_retries),
        partitions=settings.etl_partitions,
        max_retries=settings.etl_max_retries,
        publish=settings.etl_queue_enabled,
        on_page=on_page,
    )
    worker = ExtractWorker(
        engine,
        factory,
        runner,
        rabbitmq_url=settings.rabbitmq_url,
        topology=topology,
        max_retries=settings.etl_max_retries,
        name=name,
        heartbeat=heartbeat,
        metrics=metrics,
    )
    stop = threading.Event()
    threads = [
        threading.Thread(target=relay.run, name="outbox-relay", daemon=True),
        threading.Thread(
            target=sweep_forever, args=(factory, settings.etl_partitions, stop), daemon=True
        ),
    ]
    health = serve_worker_health(health_port, heartbeat, metrics, patience=HEALTH_PATIENCE)
    for thread in threads:
        thread.start()
    log.info("extract worker %s consuming", name)
    try:
        worker.serve()
    finally:
        stop.set()
        relay.stop()
        worker.stop()
        if health is not None:
            health.stop()
        engine.dispose()
