"""StreamSource partitions driven directly (build_part / next_batch / snapshot) against real
stream queues: everything is read once, a snapshot resumes exactly after what was emitted."""

from __future__ import annotations

import secrets
import time

import pytest

from dataflows.rabbitmq import ConfirmedPublisher, StreamSource, Topology, shard_partitions
from dataflows.rabbitmq.stream_source import StreamMessage, StreamPartition
from pulse.errors import ConfigurationError, RetriableError
from tests.dataflows.rabbitmq.streams import new_stage

N = 2000


def test_shards_own_every_partition_once() -> None:
    owned = [shard_partitions(16, shard, 3) for shard in range(3)]
    assert owned[0] == [0, 3, 6, 9, 12, 15]
    assert owned[2] == [2, 5, 8, 11, 14]
    assert sorted(p for shard in owned for p in shard) == list(range(16))
    with pytest.raises(ConfigurationError):
        shard_partitions(16, 3, 3)


def test_for_shard_lists_the_shards_streams() -> None:
    source = StreamSource.for_shard("amqp://unused", "raw", 8, shard=1, shards=4)
    assert source.list_parts() == ["etl.raw.1", "etl.raw.5"]


def _body(i: int) -> bytes:
    # Every 100th body is not JSON: the source must pass it on untouched.
    return b"\xff\x00 poison %d" % i if i % 100 == 7 else b'{"n": %d}' % i


def _read(part: StreamPartition, at_least: int, timeout: float = 15.0) -> list[int]:
    got: list[int] = []
    deadline = time.monotonic() + timeout
    while len(got) < at_least and time.monotonic() < deadline:
        batch = list(part.next_batch())
        for message in batch:
            assert message.partition == 0
            assert message.body == _body(message.offset)
        got.extend(m.offset for m in batch)
        time.sleep(0.002)
    return got


def _poll(part: StreamPartition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert list(part.next_batch()) == []
        time.sleep(0.01)


@pytest.fixture(scope="module")
def filled(rabbit_url: str) -> tuple[str, str]:
    """A stream holding N messages whose offset i carries body _body(i)."""
    stage = new_stage(rabbit_url, 1)
    with ConfirmedPublisher(rabbit_url, name="test-fill") as publisher:
        for i in range(N):
            publisher.publish(Topology.exchange(stage), "0", _body(i))
    return rabbit_url, Topology.stream(stage, 0)


@pytest.mark.integration
def test_reads_everything_then_resumes_exactly_the_rest(filled: tuple[str, str]) -> None:
    url, queue = filled
    # A prefetch far below N proves credit keeps flowing; max_batch leaves messages buffered
    # but not emitted, which the snapshot must not count.
    source = StreamSource(url, [queue], prefetch=100, max_batch=300)
    first = source.build_part("in", queue, None)
    try:
        head = _read(first, 1000)
        snapshot = first.snapshot()
    finally:
        first.close()
    assert head == list(range(len(head)))
    assert snapshot == len(head)
    assert 1000 <= len(head) < N

    second = source.build_part("in", queue, snapshot)
    try:
        rest = _read(second, N - len(head))
        time.sleep(0.2)
        rest += _read(second, 1, timeout=0.3)  # nothing more may come
        assert second.snapshot() == N
    finally:
        second.close()
    assert rest == list(range(snapshot, N))


@pytest.mark.integration
def test_reader_takes_deliveries_while_the_dataflow_is_busy_but_only_up_to_its_credit(
    filled: tuple[str, str],
) -> None:
    """The socket is serviced between `next_batch` calls (a busy epoch does not block the
    broker), yet no more than the prefetch is held until the partition takes it."""
    url, queue = filled
    prefetch = 40
    part = StreamSource(url, [queue], prefetch=prefetch).build_part("in", queue, 0)
    try:
        deadline = time.monotonic() + 5
        while len(part._reader.deliveries) < prefetch and time.monotonic() < deadline:
            time.sleep(0.01)  # the dataflow is "busy": nothing calls next_batch
        time.sleep(0.3)
        held = len(part._reader.deliveries)
        assert held == prefetch
        batch = part.next_batch()
        assert [m.offset for m in batch] == list(range(prefetch))
        assert part.snapshot() == prefetch
        got = [m.offset for m in batch] + _read(part, N - prefetch)
        assert got == list(range(N))
    finally:
        part.close()


@pytest.mark.integration
def test_credit_is_held_back_while_buffer_bytes_wait(filled: tuple[str, str]) -> None:
    """Big messages: what waits is bounded by bytes too, not only by the prefetch count."""
    url, queue = filled
    source = StreamSource(url, [queue], prefetch=40, buffer_bytes=100, max_batch=5)
    part = source.build_part("in", queue, 0)
    try:
        deadline = time.monotonic() + 5
        while len(part._reader.deliveries) < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(part.next_batch()) == 5
        time.sleep(0.3)  # 35 bodies (over 100 bytes) still wait: no credit went back
        assert len(part._reader.deliveries) == 35
        while len(part.next_batch()) == 5 and len(part._reader.deliveries) > 5:
            pass  # take until less than 100 bytes wait
        deadline = time.monotonic() + 5
        while len(part._reader.deliveries) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(part._reader.deliveries) >= 20  # credit came back
    finally:
        part.close()


@pytest.mark.integration
def test_one_call_returns_at_most_max_batch_bytes_but_always_a_message(
    filled: tuple[str, str],
) -> None:
    """What one `next_batch` returns belongs to the open epoch: a byte bound keeps epochs of
    big messages short, and a message larger than the bound still goes through."""
    url, queue = filled
    for bound in (1, 40):  # bodies are 8 to 15 bytes
        source = StreamSource(url, [queue], prefetch=100, max_batch_bytes=bound)
        part = source.build_part("in", queue, 0)
        try:
            batches: list[list[bytes]] = []
            offsets: list[int] = []
            deadline = time.monotonic() + 15
            while len(offsets) < 200 and time.monotonic() < deadline:
                batch = part.next_batch()
                if batch:
                    batches.append([m.body for m in batch])
                    offsets.extend(m.offset for m in batch)
            assert offsets == list(range(len(offsets)))
            assert len(offsets) >= 200
            # The call stops at the first message that reaches the bound.
            assert all(sum(map(len, bodies[:-1])) < bound for bodies in batches)
            assert max(map(len, batches)) == (1 if bound == 1 else 5)
        finally:
            part.close()


@pytest.mark.integration
def test_partitions_share_an_epoch_budget_refilled_when_the_epoch_closes(
    filled: tuple[str, str],
) -> None:
    """Bytewax holds an input back only between epochs, so the source bounds what one epoch
    takes in; `snapshot` marks the epoch's end."""
    url, queue = filled
    source = StreamSource(url, [queue], prefetch=100, epoch_bytes=50)
    part = source.build_part("in", queue, 0)
    try:
        deadline = time.monotonic() + 5
        while len(part._reader.deliveries) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        taken: list[StreamMessage] = []
        while batch := part.next_batch():
            taken.extend(batch)
        got = [m.offset for m in taken]
        sizes = [len(m.body) for m in taken]
        assert sum(sizes[:-1]) < 50 <= sum(sizes)  # the message that reaches the budget is last
        assert part._reader.deliveries  # more waits, held back
        assert part.next_batch() == []
        assert part.next_awake() is not None
        assert part.snapshot() == len(got)
        after = [m.offset for m in part.next_batch()]  # the next epoch
        assert after == list(range(len(got), len(got) + len(after)))
        assert after
    finally:
        part.close()


@pytest.mark.integration
def test_idle_partition_returns_at_once_and_asks_to_wait(filled: tuple[str, str]) -> None:
    url, queue = filled
    part = StreamSource(url, [queue]).build_part("in", queue, N)
    try:
        time.sleep(0.2)  # give the broker time to deliver anything it (wrongly) would
        started = time.monotonic()
        assert list(part.next_batch()) == []
        assert time.monotonic() - started < 0.05
        wake = part.next_awake()
        assert wake is not None
        assert part.snapshot() == N
    finally:
        part.close()


@pytest.mark.integration
def test_stop_at_idle_ends_a_drained_partition(filled: tuple[str, str]) -> None:
    url, queue = filled
    part = StreamSource(url, [queue], stop_at_idle=0.3).build_part("in", queue, N - 5)
    try:
        got = _read(part, 5)
        assert got == list(range(N - 5, N))
        with pytest.raises(StopIteration):
            _poll(part, seconds=5)
    finally:
        part.close()


@pytest.mark.integration
def test_a_queue_that_is_not_a_stream_fails_loudly(rabbit_url: str) -> None:
    queue = f"etl.classic{secrets.token_hex(3)}.0"
    with ConfirmedPublisher(rabbit_url, name="test-classic") as publisher:
        publisher.channel.queue_declare(queue, durable=True)
    with pytest.raises(ConfigurationError, match="as a stream"):
        StreamSource(rabbit_url, [queue]).build_part("in", queue, None)


@pytest.mark.integration
def test_a_stream_deleted_while_read_is_a_retriable_error_with_its_name(rabbit_url: str) -> None:
    """The reader thread's failure reaches the dataflow's thread as a clear, retriable error
    (the restarted dataflow resumes from its snapshot), never as a partition gone quiet."""
    queue = Topology.stream(new_stage(rabbit_url, 1), 0)
    part = StreamSource(rabbit_url, [queue]).build_part("in", queue, None)
    try:
        assert part.next_batch() == []
        with ConfirmedPublisher(rabbit_url, name="test-delete") as publisher:
            publisher.channel.queue_delete(queue)
        with pytest.raises(RetriableError, match=queue.replace(".", r"\.")):
            _poll(part, seconds=10)
    finally:
        part.close()
