"""A Bytewax source over RabbitMQ stream queues, one partition per stream (`etl.<stage>.<p>`).

The snapshot state of a partition is the stream offset of the next message to read, so a dataflow
run with recovery (`-r DIR -s 1`) resumes right after the last epoch it committed; nothing is
acked "for real" (stream acks only grant credit to the broker) and nothing is lost on `kill -9`.

How a partition reads (why, in short):

* one pika connection per partition, owned by a reader thread (`stream_reader`) that services
  the socket all the time, so the broker is never blocked behind a busy epoch;
* `basic.qos(prefetch)` is mandatory on streams (406 without it); credit goes back only for what
  the partition has taken and while less than `buffer_bytes` waits, so at most `prefetch`
  messages, or about `buffer_bytes` of big ones (a raw message of 100 issues is about 2 MB),
  wait in memory per partition;
* `next_batch` never blocks: it pops up to `max_batch` delivered messages or `max_batch_bytes`
  of bodies, whichever comes first (small batches starve partitions, Bytewax #556; but what one
  call returns belongs to the current epoch, so a call returning seconds of work would hold
  back the snapshot that makes progress survive a crash), and lets `next_awake` pace an idle
  partition;
* what a shard's partitions emit together in one epoch is bounded (`epoch_bytes`): Bytewax holds
  an input back only *between* epochs (until the previous one is processed), so without a bound
  one epoch may take in all that 16 partitions' readers hold, and its parsed records with it;
* `nack`/`reject` would close the whole connection with 540, so a poison body is passed on
  untouched and the dataflow diverts it in code;
* a lost connection is raised as `RetriableError`: Bytewax stops, and the restarted dataflow
  resumes from the last committed offset, which is simpler and safer than reconnecting in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from time import monotonic
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from dataflows.rabbitmq.stream_reader import StreamMessage, StreamReader
from dataflows.rabbitmq.topology import Topology
from pulse.errors import ConfigurationError

__all__ = ["StreamMessage", "StreamPartition", "StreamSource", "partition_of", "shard_partitions"]


# The broker may send `prefetch` messages before the first ack, so the count bounds memory
# first: at 32, 16 partitions could hold 1 GB of 2 MB raw messages.
DEFAULT_PREFETCH = 4
DEFAULT_BUFFER_BYTES = 8_000_000  # per partition: what waits before credit is held back
DEFAULT_MAX_BATCH = 5000
DEFAULT_MAX_BATCH_BYTES = 1_000_000
# What all partitions of a shard emit in one epoch; about 1.7k raw records, a second of work.
DEFAULT_EPOCH_BYTES = 32_000_000
DEFAULT_IDLE_WAIT = timedelta(milliseconds=20)
StartOffset = int | str  # a number, or "first" / "last" / "next" as the broker understands them


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
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        epoch_bytes: int = DEFAULT_EPOCH_BYTES,
        idle_wait: timedelta = DEFAULT_IDLE_WAIT,
        start: StartOffset = "first",
        stop_at_idle: float | None = None,
    ) -> None:
        if not queues:
            raise ConfigurationError("a stream source needs at least one stream")
        if min(prefetch, buffer_bytes, max_batch, max_batch_bytes, epoch_bytes) < 1:
            raise ConfigurationError(
                "prefetch, buffer_bytes, max_batch, max_batch_bytes and epoch_bytes must be "
                "positive"
            )
        self._partitions = {queue: partition_of(queue) for queue in queues}
        self._url = url
        self._prefetch = prefetch
        self._buffer_bytes = buffer_bytes
        self._max_batch = max_batch
        self._max_batch_bytes = max_batch_bytes
        self._epoch_budget = EpochBudget(epoch_bytes)
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
            buffer_bytes=self._buffer_bytes,
            max_batch=self._max_batch,
            max_batch_bytes=self._max_batch_bytes,
            epoch_budget=self._epoch_budget,
            idle_wait=self._idle_wait,
            start=self._start,
            stop_at_idle=self._stop_at_idle,
        )


class EpochBudget:
    """Bytes of message bodies a source's partitions may still emit in the current epoch.
    Shared by the partitions of one source (one thread calls them in turn); refilled when an
    epoch closes, which Bytewax marks by calling each partition's `snapshot`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    @property
    def left(self) -> int:
        return self.limit - self.used


class StreamPartition(StatefulSourcePartition[StreamMessage, int | None]):
    """One stream read from `resume_state` (the next offset), or from `start` without state.
    A `StreamReader` thread services the socket; this side only pops what it delivered."""

    def __init__(
        self,
        url: str,
        queue: str,
        partition: int,
        resume_state: int | None,
        *,
        name: str,
        prefetch: int = DEFAULT_PREFETCH,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        epoch_budget: EpochBudget | None = None,
        idle_wait: timedelta = DEFAULT_IDLE_WAIT,
        start: StartOffset = "first",
        stop_at_idle: float | None = None,
    ) -> None:
        self._epoch_budget = epoch_budget or EpochBudget(DEFAULT_EPOCH_BYTES)
        self._max_batch = max_batch
        self._max_batch_bytes = max_batch_bytes
        self._idle_wait = idle_wait
        self._stop_at_idle = stop_at_idle
        self._next: int | None = resume_state  # the next offset to emit: the snapshot
        self._idle_since = monotonic()
        offset = start if resume_state is None else resume_state
        self._reader = StreamReader(
            url, queue, partition, offset, name=name, prefetch=prefetch, buffer_bytes=buffer_bytes
        )
        self._reader.start_reading()

    def next_batch(self) -> list[StreamMessage]:
        self._reader.raise_failure()
        deliveries = self._reader.deliveries
        budget = self._epoch_budget
        if budget.left <= 0:
            if deliveries:
                self._idle_since = monotonic()  # held back, not idle
            return []
        most_bytes = min(self._max_batch_bytes, budget.left)
        batch: list[StreamMessage] = []
        size = last_tag = 0
        while deliveries and len(batch) < self._max_batch and size < most_bytes:
            delivery = deliveries.popleft()
            last_tag = delivery.tag
            if delivery.message is not None:
                batch.append(delivery.message)
                size += len(delivery.message.body)
        if last_tag:
            self._reader.taken(last_tag, size)
            budget.used += size
        if not batch:
            if self._stop_at_idle is not None and (
                monotonic() - self._idle_since >= self._stop_at_idle
            ):
                raise StopIteration
            return []
        self._next = batch[-1].offset + 1
        self._idle_since = monotonic()
        return batch

    def next_awake(self) -> datetime | None:
        if self._reader.deliveries and self._epoch_budget.left > 0:
            return None  # more is waiting: come back at once
        return datetime.now(UTC) + self._idle_wait

    @property
    def position(self) -> int | None:
        """The next offset to emit, for observers (`snapshot` is Bytewax's epoch hook)."""
        return self._next

    def snapshot(self) -> int | None:
        self._epoch_budget.used = 0  # the epoch closed: the next one may emit again
        return self._next

    def close(self) -> None:
        self._reader.stop()
