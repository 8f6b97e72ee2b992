"""The observing wrappers change nothing about a dataflow: the same items reach the same sink
partitions, while the source reports each partition's position and the sink what it wrote."""

from __future__ import annotations

from bytewax import operators as op
from bytewax.dataflow import Dataflow
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from bytewax.testing import TestingSource, run_main

from dataflows.observed import CountedSink, ObservedSource


class _Parts(FixedPartitionedSink[int, None]):
    """Two partitions, "even" and "odd", that keep what they are given."""

    def __init__(self) -> None:
        self.written: dict[str, list[int]] = {"even": [], "odd": []}

    def list_parts(self) -> list[str]:
        return ["even", "odd"]

    def part_fn(self, item_key: str) -> int:
        return int(item_key) % 2  # the sorted parts: 0 → "even", 1 → "odd"

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _Part:
        return _Part(self.written[for_part])


class _Part(StatefulSinkPartition[int, None]):
    def __init__(self, into: list[int]) -> None:
        self._into = into

    def write_batch(self, values: list[int]) -> None:
        self._into.extend(values)

    def snapshot(self) -> None:
        return None


def test_items_flow_unchanged_while_reads_and_writes_are_reported() -> None:
    reads: list[tuple[str, int | None, int]] = []
    written: list[int] = []
    sink = _Parts()
    flow = Dataflow("observed")
    numbers = op.input(
        "in",
        flow,
        ObservedSource(
            TestingSource(range(10), batch_size=4),
            lambda part, offset, count: reads.append((part, offset, count)),
        ),
    )
    keyed = op.key_on("key", numbers, str)
    op.output("out", keyed, CountedSink(sink, lambda values: written.append(len(values))))

    run_main(flow)

    assert sink.written == {"even": [0, 2, 4, 6, 8], "odd": [1, 3, 5, 7, 9]}
    assert sum(written) == 10
    assert reads[0] == ("iterable", None, 0)  # built, without a snapshot to resume from
    assert [count for _, _, count in reads[1:]] == [4, 4, 2]
    # TestingSource tells no position; the observer never calls `snapshot` (an epoch hook)
    assert reads[-1][1] is None
