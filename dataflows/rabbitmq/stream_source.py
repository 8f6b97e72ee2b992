"""A Bytewax source over RabbitMQ stream queues, one partition per stream (`etl.<stage>.<p>`).

The snapshot state of a partition is the stream offset of the next message to read, so a dataflow
run with recovery (`-r DIR -s 1`) resumes right after the last epoch it committed; nothing is
acked "for real" (stream acks only grant credit to the broker) and nothing is lost on `kill -9`.

How a partition reads (why, in short):

* one pika `BlockingConnection` per partition: pika is not thread-safe, and a partition must
  never share a socket with another one that Bytewax may schedule differently;
* `basic.qos(prefetch)` is mandatory on streams (406 without it), and is what bounds the
  messages sitting in our buffers;
* `next_batch` never blocks: it only processes what the socket already holds
  (`process_data_events(time_limit=0)`), drains up to `max_batch` messages per call (small
  batches starve partitions, Bytewax #556) and lets `next_awake` pace an idle partition;
* acks are credit, sent with `multiple=True` at most once per delivery tag (a second ack of the
  same tag closes the channel); `nack`/`reject` would close the whole connection with 540, so a
  poison body is passed on untouched and the dataflow diverts it in code;
* a lost connection is raised as `RetriableError`: Bytewax stops, and the restarted dataflow
  resumes from the last committed offset, which is simpler and safer than reconnecting in place.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import monotonic
from typing import Any

import pika
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from pika.exceptions import AMQPError, ChannelClosedByBroker

from dataflows.rabbitmq.publisher import connect
from dataflows.rabbitmq.topology import Topology
from pulse.errors import ConfigurationError, FatalError, RetriableError

log = logging.getLogger(__name__)

PRECONDITION_FAILED = 406
DEFAULT_PREFETCH = 2000
DEFAULT_MAX_BATCH = 5000
DEFAULT_IDLE_WAIT = timedelta(milliseconds=20)
StartOffset = int | str  # a number, or "first" / "last" / "next" as the broker understands them


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One stream message, unparsed: the dataflow decides what a bad body means."""

    partition: int
    offset: int
    body: bytes


def shard_partitions(partitions: int, shard: int, shards: int) -> list[int]:
    """The partitions shard `shard` of `shards` owns: shard, shard + shards, ..."""
    if partitions < 1 or shards < 1 or not 0 <= shard < shards:
        raise ConfigurationError(
            f"shard {shard} of {shards} over {partitions} partitions is not a valid shard"
        )
    return list(range(shard, partitions, shards))


def partition_of(queue: str) -> int:
    """The partition number of a stream named `etl.<stage>.<p>`."""
    suffix = queue.rsplit(".", 1)[-1]
    if not (suffix.isascii() and suffix.isdigit()):
        raise ConfigurationError(f"stream {queue!r} does not end in a partition number")
    return int(suffix)


class StreamSource(FixedPartitionedSource[StreamMessage, int | None]):
    """Reads the given stream queues; each is one Bytewax partition.

    `stop_at_idle` (seconds) ends a partition once it has been idle that long; it exists for
    tests and benchmarks that need a bounded run, and stays off in production.
    """

    def __init__(
        self,
        url: str,
        queues: Sequence[str],
        *,
        prefetch: int = DEFAULT_PREFETCH,
        max_batch: int = DEFAULT_MAX_BATCH,
        idle_wait: timedelta = DEFAULT_IDLE_WAIT,
        start: StartOffset = "first",
        stop_at_idle: float | None = None,
    ) -> None:
        if not queues:
            raise ConfigurationError("a stream source needs at least one stream")
        if prefetch < 1 or max_batch < 1:
            raise ConfigurationError("prefetch and max_batch must be positive")
        self._partitions = {queue: partition_of(queue) for queue in queues}
        self._url = url
        self._prefetch = prefetch
        self._max_batch = max_batch
        self._idle_wait = idle_wait
        self._start = start
        self._stop_at_idle = stop_at_idle

    @classmethod
    def for_shard(
        cls, url: str, stage: str, partitions: int, shard: int = 0, shards: int = 1, **options: Any
    ) -> StreamSource:
        """The source of one shard of a stage: the streams of `shard_partitions(...)`."""
        owned = shard_partitions(partitions, shard, shards)
        return cls(url, [Topology.stream(stage, p) for p in owned], **options)

    def list_parts(self) -> list[str]:
        return list(self._partitions)

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> StreamPartition:
        return StreamPartition(
            self._url,
            for_part,
            self._partitions[for_part],
            resume_state,
            name=f"{step_id}:{for_part}",
            prefetch=self._prefetch,
            max_batch=self._max_batch,
            idle_wait=self._idle_wait,
            start=self._start,
            stop_at_idle=self._stop_at_idle,
        )


class StreamPartition(StatefulSourcePartition[StreamMessage, int | None]):
    """One stream read from `resume_state` (the next offset), or from `start` without state."""

    def __init__(
        self,
        url: str,
        queue: str,
        partition: int,
        resume_state: int | None,
        *,
        name: str,
        prefetch: int = DEFAULT_PREFETCH,
        max_batch: int = DEFAULT_MAX_BATCH,
        idle_wait: timedelta = DEFAULT_IDLE_WAIT,
        start: StartOffset = "first",
        stop_at_idle: float | None = None,
    ) -> None:
        self._queue = queue
        self._partition = partition
        self._max_batch = max_batch
        self._idle_wait = idle_wait
        self._stop_at_idle = stop_at_idle
        # Next offset to emit (the snapshot) and lowest offset still accepted from the broker;
        # they differ while received messages wait in the buffer.
        self._next: int | None = resume_state
        self._expect: int = resume_state or 0
        self._offset_known = resume_state is not None  # False: "first" may start anywhere
        self._buffer: deque[StreamMessage] = deque()
        self._last_tag = 0
        self._acked_tag = 0
        self._ack_every = max(prefetch // 2, 1)
        self._idle_since = monotonic()
        self._drained_any = False
        self._connection = connect(url, name=name)
        try:
            self._channel = self._connection.channel()
            self._channel.basic_qos(prefetch_count=prefetch)
            offset = start if resume_state is None else resume_state
            self._channel.basic_consume(
                queue,
                self._on_message,
                auto_ack=False,
                arguments={"x-stream-offset": offset},
            )
        except ChannelClosedByBroker as exc:
            self.close()
            if exc.reply_code == PRECONDITION_FAILED:  # e.g. a classic queue under that name
                raise ConfigurationError(
                    f"the broker refused to read {queue!r} as a stream: {exc.reply_text}",
                    queue=queue,
                ) from exc
            raise RetriableError(f"cannot consume stream {queue!r}: {exc!r}", queue=queue) from exc
        except AMQPError as exc:
            self.close()
            raise RetriableError(f"cannot consume stream {queue!r}: {exc!r}", queue=queue) from exc
        log.info("reading stream %s from offset %s", queue, offset)

    def _on_message(
        self,
        channel: Any,
        method: pika.spec.Basic.Deliver,
        properties: pika.BasicProperties,
        body: bytes,
    ) -> None:
        self._last_tag = method.delivery_tag
        header = (properties.headers or {}).get("x-stream-offset")
        if not isinstance(header, int):
            raise FatalError(f"{self._queue!r} is not a stream: no x-stream-offset header")
        offset = int(header)  # pika decodes a `long` subclass; snapshots should hold plain ints
        if offset > self._expect and self._offset_known:
            # Offsets are contiguous, so a gap means retention dropped messages we never read.
            log.warning(
                "stream %s skipped offsets %s..%s (expired by retention?); "
                "the outbox sweeper re-publishes what was never loaded",
                self._queue,
                self._expect,
                offset - 1,
            )
        self._offset_known = True
        # The broker starts at the chunk holding the requested offset on some versions.
        if offset >= self._expect:
            self._expect = offset + 1
            self._buffer.append(StreamMessage(self._partition, offset, body))
        if self._last_tag - self._acked_tag >= self._ack_every:
            self._ack()

    def _ack(self) -> None:
        # Credit only, so one multiple-ack for everything received; never the same tag twice.
        if self._last_tag > self._acked_tag:
            self._channel.basic_ack(self._last_tag, multiple=True)
            self._acked_tag = self._last_tag

    def _drain(self) -> bool:
        """Process what the socket holds, without waiting; True if new messages came."""
        before = self._expect
        try:
            while len(self._buffer) < self._max_batch:
                seen = self._last_tag
                self._connection.process_data_events(time_limit=0)
                if self._last_tag == seen:
                    break
            self._ack()
        except AMQPError as exc:
            raise RetriableError(
                f"lost stream {self._queue!r}: {exc!r}; restart resumes from the snapshot",
                queue=self._queue,
                offset=self._next,
            ) from exc
        if not self._channel.consumer_tags:
            raise RetriableError(
                f"the broker cancelled the consumer of {self._queue!r} (stream deleted?)",
                queue=self._queue,
            )
        return self._expect > before

    def next_batch(self) -> list[StreamMessage]:
        self._drained_any = len(self._buffer) < self._max_batch and self._drain()
        if not self._buffer:
            if self._stop_at_idle is not None and (
                monotonic() - self._idle_since >= self._stop_at_idle
            ):
                raise StopIteration
            return []
        count = min(len(self._buffer), self._max_batch)
        batch = [self._buffer.popleft() for _ in range(count)]
        self._next = batch[-1].offset + 1
        self._idle_since = monotonic()
        return batch

    def next_awake(self) -> datetime | None:
        if self._buffer or self._drained_any:
            return None  # more is probably waiting: come back at once
        return datetime.now(UTC) + self._idle_wait

    def snapshot(self) -> int | None:
        return self._next

    def close(self) -> None:
        # pika rejects deliveries still in flight when it cancels the consumer; a stream answers
        # with 540 and closes the connection, which was closing anyway: harmless, swallowed.
        try:
            if self._connection.is_open:
                self._connection.close()
        except AMQPError:
            log.debug("ignoring error while closing %s", self._queue, exc_info=True)
