"""What RabbitMQ itself says about our queues over AMQP, for the queue monitor when the
management API is not enabled.

* Work queues (quorum): a passive `queue.declare` answers depth and consumer count.
* Streams: the passive declare says nothing useful about a stream's content (its message count
  is 0), so the first and last offsets are read by attaching, for a moment, a consumer at
  `first` (prefetch 1, reads one message) and one at `last` (reads the last chunk). Reading a
  stream does not consume it, so this is safe next to the dataflows. Stream consumers must
  never nack or reject, so the probe only acks and then closes its connection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError, ChannelClosedByBroker

from dataflows.rabbitmq.publisher import connect

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class QueueDepth:
    messages: int
    consumers: int


@dataclass(frozen=True, slots=True)
class StreamBounds:
    first: int | None  # offset of the oldest message still kept (None: empty stream)
    last: int | None  # offset of the newest message

    @property
    def length(self) -> int:
        if self.first is None or self.last is None:
            return 0
        return self.last - self.first + 1


def queue_depths(url: str, names: Sequence[str]) -> dict[str, QueueDepth | None]:
    """Depth and consumers of each queue; None for a queue that does not exist (yet)."""
    found: dict[str, QueueDepth | None] = {}
    connection = connect(url, name="queue-monitor")
    try:
        channel = connection.channel()
        for name in names:
            try:
                declared = channel.queue_declare(name, passive=True)
            except ChannelClosedByBroker as exc:
                if exc.reply_code != 404:
                    raise
                found[name] = None
                channel = connection.channel()  # a failed passive declare closes the channel
                continue
            found[name] = QueueDepth(
                int(declared.method.message_count), int(declared.method.consumer_count)
            )
    finally:
        _close(connection)
    return found


class _Probe:
    """The first and last offsets of one stream, gathered from two short-lived consumers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.first: int | None = None
        self.last: int | None = None
        self.first_done = False
        self.last_seen = time.monotonic()

    def on_first(
        self,
        _channel: BlockingChannel,
        _method: pika.spec.Basic.Deliver,
        properties: pika.BasicProperties,
        _body: bytes,
    ) -> None:
        # Not acked, with a prefetch of 1: this consumer receives exactly one message. (It is
        # not cancelled either: pika would reject in-flight deliveries, and a stream answers a
        # reject by closing the connection.)
        offset = _offset(properties)
        if offset is not None and not self.first_done:
            self.first = offset
            self.first_done = True

    def on_last(
        self,
        channel: BlockingChannel,
        method: pika.spec.Basic.Deliver,
        properties: pika.BasicProperties,
        _body: bytes,
    ) -> None:
        channel.basic_ack(method.delivery_tag)
        offset = _offset(properties)
        if offset is not None:
            self.last = offset if self.last is None else max(self.last, offset)
        self.last_seen = time.monotonic()


def stream_bounds(
    url: str, names: Sequence[str], *, settle: float = 0.3, timeout: float = 5.0
) -> dict[str, StreamBounds]:
    """First and last offset of each stream (which must exist: see `queue_depths`). All the
    streams are read at once on one channel; a stream counts as read when its `last`
    consumer has been quiet for `settle` seconds (it starts at the last chunk, so it only
    delivers that chunk's messages)."""
    present = list(names)
    found: dict[str, StreamBounds] = {}
    if not present:
        return found
    connection = connect(url, name="queue-monitor-streams")
    probes = [_Probe(name) for name in present]
    try:
        channel = connection.channel()
        started = time.monotonic()
        channel.basic_qos(prefetch_count=1)  # applies to the consumers declared after it
        for probe in probes:
            channel.basic_consume(
                probe.name, probe.on_first, arguments={"x-stream-offset": "first"}
            )
        channel.basic_qos(prefetch_count=200)
        for probe in probes:
            channel.basic_consume(probe.name, probe.on_last, arguments={"x-stream-offset": "last"})
            probe.last_seen = time.monotonic()
        while time.monotonic() - started < timeout:
            connection.process_data_events(time_limit=0.05)
            now = time.monotonic()
            if all(
                (p.first_done or now - started > settle) and now - p.last_seen > settle
                for p in probes
            ):
                break
        else:
            log.warning("reading stream offsets took longer than %.1f s; figures may lag", timeout)
    finally:
        _close(connection)
    for probe in probes:
        first = probe.first if probe.first is not None else probe.last
        found[probe.name] = StreamBounds(first, probe.last)
    return found


def _offset(properties: pika.BasicProperties) -> int | None:
    value = (properties.headers or {}).get("x-stream-offset")
    return None if value is None else int(value)


def _close(connection: pika.BlockingConnection) -> None:
    try:
        if connection.is_open:
            connection.close()
    except AMQPError:
        log.debug("closing a queue-monitor connection failed", exc_info=True)
