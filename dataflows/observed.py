"""Wrappers that let a process watch its dataflow without changing it: a source whose
partitions report what they read, and a sink that reports what it wrote. The wrapped source and
sink behave exactly as before (same parts, routing, snapshots and recovery state).

The callbacks run on the dataflow's thread, once per batch: keep them to a counter increment or
a dict update (`pulse.ops.shard.ShardMonitor` does the slow work in its own thread).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Generic, Protocol, TypeVar, cast, runtime_checkable

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

__all__ = ["CountedSink", "ObservedSource", "ShardObserver"]

X = TypeVar("X")  # items
S = TypeVar("S")  # a partition's snapshot (recovery state)

# (part name, the partition's snapshot after the batch, items in the batch); the snapshot of a
# stream partition is the next offset it will read.
OnRead = Callable[[str, S | None, int], None]


class ShardObserver(Protocol):
    """What a dataflow shard reports (`dataflows.shards.build_stage_flow(observer=...)`)."""

    def read(self, queue: str, next_offset: int | None, count: int) -> None:
        """A partition of `queue` read `count` messages; it reads `next_offset` next."""

    def processed(self, count: int) -> None:
        """The stage's output took `count` more records."""

    def failed(self, count: int) -> None:
        """`count` more items were dead-lettered."""


@runtime_checkable
class Positioned(Protocol):
    """A partition that tells where it reads next without side effects. `snapshot` is not
    that: Bytewax calls it when an epoch closes, and a source may act on it (the stream source
    refills its epoch budget there), so an observer must never call it."""

    @property
    def position(self) -> object: ...


class ObservedSource(FixedPartitionedSource[X, S], Generic[X, S]):
    """`inner`, with `on_read` told after every `next_batch` of every partition (empty batches
    too: they show the dataflow still polls), and once when a partition is built or resumed.
    The position is reported for partitions that have one (`Positioned`), else None."""

    def __init__(self, inner: FixedPartitionedSource[X, S], on_read: OnRead[S]) -> None:
        self._inner = inner
        self._on_read = on_read

    def list_parts(self) -> list[str]:
        return self._inner.list_parts()

    def build_part(
        self, step_id: str, for_part: str, resume_state: S | None
    ) -> StatefulSourcePartition[X, S]:
        part = self._inner.build_part(step_id, for_part, resume_state)
        self._on_read(for_part, resume_state, 0)
        return _ObservedPartition(for_part, part, self._on_read)


class _ObservedPartition(StatefulSourcePartition[X, S], Generic[X, S]):
    def __init__(self, name: str, inner: StatefulSourcePartition[X, S], on_read: OnRead[S]) -> None:
        self._name = name
        self._inner = inner
        self._on_read = on_read

    def next_batch(self) -> Iterable[X]:
        batch = self._inner.next_batch()  # StopIteration ends the partition, untouched
        if not isinstance(batch, list):
            batch = list(batch)
        position = self._inner.position if isinstance(self._inner, Positioned) else None
        self._on_read(self._name, cast(S | None, position), len(batch))
        return batch

    def next_awake(self) -> datetime | None:
        return self._inner.next_awake()

    def snapshot(self) -> S:
        return self._inner.snapshot()

    def close(self) -> None:
        self._inner.close()


class CountedSink(FixedPartitionedSink[X, S], Generic[X, S]):
    """`inner`, with `count` given the values of each batch once `inner` wrote them."""

    def __init__(self, inner: FixedPartitionedSink[X, S], count: Callable[[list[X]], None]) -> None:
        self._inner = inner
        self._count = count

    def list_parts(self) -> list[str]:
        return self._inner.list_parts()

    def part_fn(self, item_key: str) -> int:
        return self._inner.part_fn(item_key)

    def build_part(
        self, step_id: str, for_part: str, resume_state: S | None
    ) -> StatefulSinkPartition[X, S]:
        return _CountedPartition(
            self._inner.build_part(step_id, for_part, resume_state), self._count
        )


class _CountedPartition(StatefulSinkPartition[X, S], Generic[X, S]):
    def __init__(
        self, inner: StatefulSinkPartition[X, S], count: Callable[[list[X]], None]
    ) -> None:
        self._inner = inner
        self._count = count

    def write_batch(self, values: list[X]) -> None:
        self._inner.write_batch(values)
        self._count(values)

    def snapshot(self) -> S:
        return self._inner.snapshot()

    def close(self) -> None:
        self._inner.close()
