"""Health and metrics of one dataflow shard (`pulse flow transform|load`).

The dataflow reports to a `ShardMonitor` from its own thread (`dataflows.observed`): each
partition's next offset after every poll, the records its output took and the items it
dead-lettered. A thread of the monitor turns that, every few seconds, into

* with `probe_streams`, `pulse_queue_lag_messages{queue}` and `pulse_queue_messages{queue}` for
  the shard's streams: the stream's tail offset + 1 minus the partition's next offset, and the
  stream's length. Off by default: over AMQP a stream's tail is found by reading its last chunk,
  which for raw streams (2 MB messages, chunks of many) cost a transform shard hundreds of MB
  of transient memory and CPU every round; the scheduler's queue monitor computes the same lag
  from the offsets in the heartbeat;
* the shard's heartbeat row, with those next offsets (`detail.offsets`, which the queue
  monitor and the web read), written only while the dataflow still polls its source, so a
  wedged dataflow shows as a stale heartbeat, not as a healthy monitor thread.

Liveness is the dataflow polling its source within `patience` (a long epoch, one big load
transaction, may hold it for a while); readiness adds that the database took the heartbeat.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from dataflows.rabbitmq.inspect import stream_bounds
from pulse.ops.health import HealthServer
from pulse.ops.metrics import Metrics
from pulse.ops.queues import stream_lag
from storage.heartbeats import Heartbeat

log = logging.getLogger(__name__)

DEAD_LETTERED = "skippable"  # the error kind of an item a stage dead-letters and carries on


class ShardMonitor:
    def __init__(
        self,
        stage: str,
        rabbitmq_url: str,
        heartbeat: Heartbeat,
        metrics: Metrics | None = None,
        *,
        every: float = 5.0,
        patience: float = 120.0,
        probe_streams: bool = False,
    ) -> None:
        self._probe_streams = probe_streams
        self.metrics = metrics if metrics is not None else Metrics()
        self._url = rabbitmq_url
        self._heartbeat = heartbeat
        self._every, self._patience = every, patience
        self._records = self.metrics.records.labels(stage)  # listed at 0 from the start
        self._dead = self.metrics.errors.labels(stage, DEAD_LETTERED)
        self._lock = threading.Lock()
        self._offsets: dict[str, int | None] = {}
        self._polled_at: float | None = None

    # The dataflow's side (`dataflows.observed.ShardObserver`): cheap, on its thread.

    def read(self, queue: str, next_offset: int | None, count: int) -> None:
        with self._lock:
            self._offsets[queue] = next_offset
            self._polled_at = time.monotonic()

    def processed(self, count: int) -> None:
        self._records.inc(count)

    def failed(self, count: int) -> None:
        self._dead.inc(count)

    # Health.

    def live(self) -> bool:
        polled = self._polled_at
        return polled is not None and time.monotonic() - polled < self._patience

    def ready(self) -> bool:
        return self.live() and self._heartbeat.ready_within(self._patience)

    # The monitor thread.

    def refresh(self) -> dict[str, int]:
        """Beat (while the dataflow polls) and, when probing, set the lag gauges; returns the
        lag by stream (empty without probing)."""
        with self._lock:
            offsets = dict(self._offsets)
        if self.live():
            known = {queue: offset for queue, offset in offsets.items() if offset is not None}
            self._heartbeat.beat(force=True, offsets=known)
        lags: dict[str, int] = {}
        if not self._probe_streams:
            return lags
        for queue, bounds in stream_bounds(self._url, sorted(offsets)).items():
            lags[queue] = stream_lag(bounds, offsets[queue])
            self.metrics.queue_lag.labels(queue).set(lags[queue])
            self.metrics.queue_messages.labels(queue).set(bounds.length)
        return lags

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self._every):
            try:
                self.refresh()
            except Exception:  # a database or broker hiccup: the next round retries
                log.warning("shard health not refreshed", exc_info=True)

    @contextmanager
    def running(self, health_port: int | None) -> Iterator[None]:
        """The monitor thread, and the health server when there is a port, for the block."""
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="shard-monitor", daemon=True)
        health = None
        if health_port is not None:
            health = HealthServer(
                health_port, live=self.live, ready=self.ready, registry=self.metrics.registry
            ).start()
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=10)
            if health is not None:
                health.stop()
