"""Queue monitor data for the operators' page and `pulse queues`: for each work queue, stream
partition and dead-letter queue, its depth (or stream length), consumers, consumer lag and
publish/deliver rates.

* Depth and consumers come from passive AMQP declarations. Publish/deliver rates come from the
  RabbitMQ management API when `RABBITMQ_MANAGEMENT_URL` is set; without it, stream rates are
  the change of offsets between two snapshots (keep one `QueueMonitor` around to get them) and
  work-queue rates are unknown (None).
* Streams: first and last offsets are read over AMQP (`dataflows.rabbitmq.inspect`). A stream's
  lag is its last offset + 1 minus the next offset its dataflow shard committed, which the
  shards report in their heartbeat (`Heartbeat.beat(offsets={"etl.raw.3": 1234})`); a stream
  whose consumer reported nothing counts its whole length as lag.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from threading import Event
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import pika
from sqlalchemy.orm import Session, sessionmaker

from dataflows.rabbitmq import EXTRACT_QUEUE, VECTORIZE_QUEUE, Topology
from dataflows.rabbitmq.inspect import QueueDepth, StreamBounds, queue_depths, stream_bounds
from dataflows.rabbitmq.topology import STREAM_STAGES
from pulse.ops.metrics import Metrics
from pulse.settings import Settings
from storage.heartbeats import list_heartbeats

log = logging.getLogger(__name__)

WORK_QUEUES = (EXTRACT_QUEUE, VECTORIZE_QUEUE)


@dataclass(frozen=True, slots=True)
class QueueStats:
    name: str
    kind: str  # work | stream | dead
    partition: int | None
    exists: bool
    messages: int | None  # depth, or a stream's length
    consumers: int | None
    lag: int | None
    lag_source: str | None  # offsets (committed by the consumer) | length | depth
    publish_rate: float | None  # messages per second
    deliver_rate: float | None
    first_offset: int | None = None
    last_offset: int | None = None
    committed_offset: int | None = None  # next offset the consumer will read


@dataclass(frozen=True, slots=True)
class _Layout:
    name: str
    kind: str
    partition: int | None


def layout(topology: Topology) -> list[_Layout]:
    """Every queue Pulse declares, in the order the page lists them."""
    found = [_Layout(name, "work", None) for name in WORK_QUEUES]
    for stage in STREAM_STAGES:
        found += [
            _Layout(topology.stream(stage, p), "stream", p) for p in range(topology.partitions)
        ]
    sources = [*WORK_QUEUES, *(Topology.exchange(stage) for stage in STREAM_STAGES)]
    found += [_Layout(Topology.dead_queue(source), "dead", None) for source in sources]
    return found


def committed_offsets(session: Session) -> dict[str, int]:
    """Queue → next offset its consumer will read, from the dataflow shards' heartbeats (the
    newest beat wins when a partition moved between shards)."""
    found: dict[str, tuple[Any, int]] = {}
    for row in list_heartbeats(session):
        offsets = (row.detail or {}).get("offsets")
        if not isinstance(offsets, dict):
            continue
        for queue, offset in offsets.items():
            if isinstance(offset, int) and (queue not in found or row.beat_at > found[queue][0]):
                found[queue] = (row.beat_at, offset)
    return {queue: offset for queue, (_, offset) in found.items()}


class ManagementApi:
    """The few calls of the RabbitMQ management API the monitor needs."""

    def __init__(self, url: str, vhost: str, *, client: httpx.Client | None = None) -> None:
        parts = urlsplit(url)
        auth = (parts.username or "guest", parts.password or "guest")
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self._own = client is None
        self._client = client or httpx.Client(timeout=10.0)
        self._client.auth = httpx.BasicAuth(*auth)
        self._queues_url = f"{base}/api/queues/{quote(vhost, safe='')}"

    def queues(self) -> dict[str, Mapping[str, Any]]:
        response = self._client.get(self._queues_url)
        response.raise_for_status()
        return {q["name"]: q for q in response.json()}

    def close(self) -> None:
        if self._own:
            self._client.close()


class QueueMonitor:
    def __init__(
        self,
        rabbitmq_url: str,
        topology: Topology,
        factory: sessionmaker[Session],
        *,
        management: ManagementApi | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = rabbitmq_url
        self._topology = topology
        self._factory = factory
        self._management = management
        self._clock = clock
        self._previous: tuple[float, dict[str, tuple[int | None, int | None]]] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, factory: sessionmaker[Session]) -> QueueMonitor:
        if settings.rabbitmq_url is None:
            raise ValueError("the queue monitor needs RABBITMQ_URL (embedded mode has no queues)")
        management = None
        if settings.rabbitmq_management_url is not None:
            vhost = pika.URLParameters(settings.rabbitmq_url).virtual_host
            management = ManagementApi(settings.rabbitmq_management_url, vhost)
        topology = Topology(settings.etl_partitions, settings.etl_max_retries)
        return cls(settings.rabbitmq_url, topology, factory, management=management)

    def close(self) -> None:
        if self._management is not None:
            self._management.close()

    def snapshot(self) -> list[QueueStats]:
        queues = layout(self._topology)
        names = [q.name for q in queues]
        streams = [q.name for q in queues if q.kind == "stream"]
        managed = self._managed()
        depths = queue_depths(self._url, names)
        bounds = stream_bounds(self._url, [n for n in streams if depths.get(n) is not None])
        with self._factory() as session:
            committed = committed_offsets(session)
        now = self._clock()
        stream_rates = self._stream_rates(now, bounds, committed)
        found = []
        for queue in queues:
            info = managed.get(queue.name) if managed is not None else None
            if queue.kind == "stream":
                found.append(
                    self._stream(
                        queue,
                        bounds.get(queue.name),
                        depths.get(queue.name),
                        committed,
                        info,
                        stream_rates,
                    )
                )
            else:
                found.append(_work(queue, depths.get(queue.name), info))
        return found

    def _managed(self) -> dict[str, Mapping[str, Any]] | None:
        if self._management is None:
            return None
        try:
            return self._management.queues()
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("RabbitMQ management API unavailable (%r); using AMQP figures", exc)
            return None

    def _stream(
        self,
        queue: _Layout,
        bounds: StreamBounds | None,
        depth: QueueDepth | None,
        committed: Mapping[str, int],
        info: Mapping[str, Any] | None,
        rates: Mapping[str, tuple[float | None, float | None]],
    ) -> QueueStats:
        if bounds is None:
            return QueueStats(
                queue.name, "stream", queue.partition, False, None, None, None, None, None, None
            )
        next_offset = committed.get(queue.name)
        lag = stream_lag(bounds, next_offset)
        source = "length" if next_offset is None else "offsets"
        publish, deliver = rates.get(queue.name, (None, None))
        if info is not None:
            publish = _rate(info, "publish_details")
            deliver = _rate(info, "deliver_get_details")
        return QueueStats(
            queue.name,
            "stream",
            queue.partition,
            True,
            bounds.length,
            depth.consumers if depth is not None else None,
            lag,
            source,
            publish,
            deliver,
            first_offset=bounds.first,
            last_offset=bounds.last,
            committed_offset=next_offset,
        )

    def _stream_rates(
        self, now: float, bounds: Mapping[str, StreamBounds], committed: Mapping[str, int]
    ) -> dict[str, tuple[float | None, float | None]]:
        """Publish rate from the last offset's move, deliver rate from the committed offset's
        move, since the previous snapshot of this monitor."""
        current = {name: (_end(b), committed.get(name)) for name, b in bounds.items()}
        previous, self._previous = self._previous, (now, current)
        if previous is None or now <= previous[0]:
            return {}
        span = now - previous[0]
        rates: dict[str, tuple[float | None, float | None]] = {}
        for name, (end, done) in current.items():
            before_end, before_done = previous[1].get(name, (None, None))
            publish = _per_second(end, before_end, span)
            deliver = _per_second(done, before_done, span)
            rates[name] = (publish, deliver)
        return rates


def stream_lag(bounds: StreamBounds, next_offset: int | None) -> int:
    """Messages of the stream after `next_offset`, the next one its consumer reads; all of
    them when the consumer reported no offset."""
    if next_offset is None:
        return bounds.length
    end = bounds.last + 1 if bounds.last is not None else next_offset
    return max(end - next_offset, 0)


def _per_second(now: int | None, before: int | None, span: float) -> float | None:
    return None if now is None or before is None else (now - before) / span


def _end(bounds: StreamBounds) -> int | None:
    """The stream's next offset: 0 for a stream never written to."""
    if bounds.last is not None:
        return bounds.last + 1
    return 0 if bounds.first is None else None


def _work(queue: _Layout, depth: QueueDepth | None, info: Mapping[str, Any] | None) -> QueueStats:
    if depth is None:
        return QueueStats(queue.name, queue.kind, None, False, None, None, None, None, None, None)
    publish = _rate(info, "publish_details") if info is not None else None
    deliver = _rate(info, "deliver_get_details") if info is not None else None
    return QueueStats(
        queue.name,
        queue.kind,
        None,
        True,
        depth.messages,
        depth.consumers,
        depth.messages,
        "depth",
        publish,
        deliver,
    )


def _rate(info: Mapping[str, Any], key: str) -> float | None:
    details = (info.get("message_stats") or {}).get(key)
    if not isinstance(details, dict) or "rate" not in details:
        return None
    return float(details["rate"])


def export(metrics: Metrics, stats: list[QueueStats]) -> None:
    """Set the queue gauges of `metrics` from a snapshot."""
    for queue in stats:
        if queue.messages is not None:
            metrics.queue_messages.labels(queue.name).set(queue.messages)
        if queue.lag is not None:
            metrics.queue_lag.labels(queue.name).set(queue.lag)


def export_forever(
    monitor: QueueMonitor, metrics: Metrics, stop: Event, *, every: float = 15.0
) -> None:
    """Refresh the queue gauges every `every` seconds until `stop` (in its own thread: a
    snapshot reads every stream for a moment and must not delay a scheduler tick)."""
    while not stop.is_set():
        try:
            export(metrics, monitor.snapshot())
        except Exception:  # a broker outage must not end the loop; the next round retries
            log.warning("queue metrics not refreshed", exc_info=True)
        stop.wait(every)
