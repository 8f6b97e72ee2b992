"""Assembles the `pulse vectorize` process: settings → database, Qdrant, embedders, worker,
signal handlers, heartbeat. Everything is closed on the way out, also after a crash."""

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
from pulse.settings import Settings
from storage.crypto import cipher_for
from storage.db import make_engine, session_factory
from storage.heartbeats import Heartbeat

__all__ = ["run_vectorize_process"]

log = logging.getLogger(__name__)

_MAX_RECONNECT_WAIT = 30.0


def _serve_reconnecting(worker: VectorizeWorker) -> None:
    """A lost broker connection is waited out (the broker requeues what was unacked), not a
    reason to exit; `stop()` ends the wait too."""
    delay = 1.0
    while not worker.stopped:
        try:
            worker.serve()
            return
        except (AMQPError, RetriableError) as exc:
            log.warning("vectorize worker lost RabbitMQ (%r); reconnecting in %.0f s", exc, delay)
            worker.wait(delay)
            delay = min(delay * 2, _MAX_RECONNECT_WAIT)


def run_vectorize_process(
    settings: Settings, *, name: str, provider: ProviderChoice | None = None
) -> None:
    if settings.rabbitmq_url is None:
        raise ConfigurationError(
            "pulse vectorize needs RABBITMQ_URL; in embedded mode the pipeline embeds in-process"
        )
    choice: ProviderChoice = provider or settings.embedding_provider
    engine = make_engine(settings.database_url)
    factory = session_factory(engine)
    store = open_store(settings)
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
        heartbeat=Heartbeat(factory, name, "vectorize"),
    )

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("vectorize worker %s stopping (signal %s)", name, signum)
        worker.stop()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if choice != "openai":
            embedders.local.embed(["warm up"])  # load the model before taking messages
        _serve_reconnecting(worker)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        embedders.close()
        store.close()
        engine.dispose()
    log.info(
        "vectorize worker %s stopped",
        name,
        extra={"settled": worker.settled, "embedded": worker.totals.embedded},
    )
