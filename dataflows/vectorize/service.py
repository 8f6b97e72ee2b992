"""Assembles the `pulse vectorize` process: settings → database, Qdrant, embedders, worker,
signal handlers, heartbeat, and optionally the health and metrics port. Everything is closed
on the way out, also after a crash."""

from __future__ import annotations

import logging
import signal
from types import FrameType

from pika.exceptions import AMQPError

from dataflows.rabbitmq import Topology
from dataflows.vectorize.embedders import ProviderChoice, TenantEmbedders
from dataflows.vectorize.providers import LocalEmbedder
from dataflows.vectorize.store import open_store
from dataflows.vectorize.worker import VectorizeWorker
from pulse.errors import ConfigurationError, RetriableError
from pulse.ops.metrics import Metrics
from pulse.ops.probes import serve_worker_health
from pulse.settings import Settings
from storage.crypto import cipher_for
from storage.db import make_engine, session_factory
from storage.heartbeats import Heartbeat

__all__ = ["run_vectorize_process"]

log = logging.getLogger(__name__)

_MAX_RECONNECT_WAIT = 30.0
# The loop beats at least twice a second, but not while it embeds a batch (up to prefetch x 100
# texts) or loads the model.
HEALTH_PATIENCE = 300.0


def _serve_reconnecting(worker: VectorizeWorker, heartbeat: Heartbeat) -> None:
    """A lost broker connection is waited out (the broker requeues what was unacked), not a
    reason to exit; `stop()` ends the wait too. Meanwhile the process is alive, not ready."""
    delay = 1.0
    while not worker.stopped:
        try:
            worker.serve()
            return
        except (AMQPError, RetriableError) as exc:
            log.warning("vectorize worker lost RabbitMQ (%r); reconnecting in %.0f s", exc, delay)
            _beat_not_ready(heartbeat, error=repr(exc))
            worker.wait(delay)
            delay = min(delay * 2, _MAX_RECONNECT_WAIT)


def _beat_not_ready(heartbeat: Heartbeat, **detail: str) -> None:
    try:
        heartbeat.beat(ready=False, force=True, **detail)
    except Exception:  # the database may be down too; liveness reporting never stops the work
        log.warning("heartbeat failed", exc_info=True)


def run_vectorize_process(
    settings: Settings,
    *,
    name: str,
    provider: ProviderChoice | None = None,
    health_port: int | None = None,
) -> None:
    if settings.rabbitmq_url is None:
        raise ConfigurationError(
            "pulse vectorize needs RABBITMQ_URL; in embedded mode the pipeline embeds in-process"
        )
    choice: ProviderChoice = provider or settings.embedding_provider
    engine = make_engine(settings.database_url)
    factory = session_factory(engine)
    store = open_store(settings)
    heartbeat = Heartbeat(factory, name, "vectorize")
    metrics = Metrics()
    embedders = TenantEmbedders(
        factory,
        cipher_for(settings),
        provider=choice,
        local=LocalEmbedder(batch_size=settings.vectorize_batch_size),
    )
    worker = VectorizeWorker(
        factory,
        embedders,
        store,
        rabbitmq_url=settings.rabbitmq_url,
        topology=Topology(settings.etl_partitions, settings.etl_max_retries),
        name=name,
        prefetch=settings.vectorize_prefetch,
        max_delay=settings.vectorize_max_delay_ms / 1000,
        heartbeat=heartbeat,
        metrics=metrics,
    )

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("vectorize worker %s stopping (signal %s)", name, signum)
        worker.stop()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    health = serve_worker_health(health_port, heartbeat, metrics, patience=HEALTH_PATIENCE)
    try:
        if choice != "openai":
            _beat_not_ready(heartbeat, starting="loading the embedding model")
            embedders.local.embed(["warm up"])  # load the model before taking messages
        _serve_reconnecting(worker, heartbeat)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if health is not None:
            health.stop()
        embedders.close()
        store.close()
        engine.dispose()
    log.info(
        "vectorize worker %s stopped",
        name,
        extra={"settled": worker.settled, "embedded": worker.totals.embedded},
    )
