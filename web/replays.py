"""Replaying a tenant from the UI after a mapping change (`dataflows.replay.replay_tenant`).

A replay of a large tenant takes seconds to minutes, so it runs in a background thread of the
web process and the page polls the tenant's count of unprocessed raw records (the truth in
the database). One replay per tenant at a time per process. With RabbitMQ the records go to
the `etl.raw` streams and the running `pulse flow` shards do the work; in embedded mode the
stages run in this thread, as `pulse replay` does.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from pulse.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class ReplayRunner:
    settings: Settings
    factory: sessionmaker[Session]
    _running: dict[int, threading.Thread] = field(default_factory=dict)
    _errors: dict[int, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, tenant_id: int) -> bool:
        """Start a replay of the tenant; False when one is already running here."""
        with self._lock:
            current = self._running.get(tenant_id)
            if current is not None and current.is_alive():
                return False
            self._errors.pop(tenant_id, None)
            thread = threading.Thread(
                target=self._replay, args=(tenant_id,), name=f"replay-{tenant_id}", daemon=True
            )
            self._running[tenant_id] = thread
            thread.start()
            return True

    def running(self, tenant_id: int) -> bool:
        thread = self._running.get(tenant_id)
        return thread is not None and thread.is_alive()

    def error(self, tenant_id: int) -> str | None:
        return self._errors.get(tenant_id)

    def join(self, tenant_id: int, timeout: float | None = None) -> None:
        thread = self._running.get(tenant_id)
        if thread is not None:
            thread.join(timeout)

    def _replay(self, tenant_id: int) -> None:
        from dataflows.replay import replay_tenant

        partitions = self.settings.etl_partitions
        batch_size = self.settings.etl_batch_size
        try:
            if self.settings.rabbitmq_url is None:
                from dataflows.embedded import EmbeddedPipeline

                pipeline = EmbeddedPipeline(self.factory, batch_size=self.settings.etl_batch_size)
                result = replay_tenant(
                    self.factory,
                    tenant_id,
                    pipeline.accept,
                    after_relay=pipeline.process_pending,
                    partitions=partitions,
                    batch_size=batch_size,
                )
            else:
                from connectors.extract.service import StreamPublisher

                publisher = StreamPublisher(self.settings.rabbitmq_url, f"web-replay-{tenant_id}")
                try:
                    result = replay_tenant(
                        self.factory,
                        tenant_id,
                        publisher,
                        partitions=partitions,
                        batch_size=batch_size,
                    )
                finally:
                    publisher.close()
            log.info("replay of tenant %s queued %s records", tenant_id, result.queued)
        except Exception as exc:
            log.exception("replay of tenant %s failed", tenant_id)
            self._errors[tenant_id] = f"{type(exc).__name__}: {exc}"
