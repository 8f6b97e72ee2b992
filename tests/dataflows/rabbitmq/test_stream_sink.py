"""StreamSink: routing by the producers' partition function, and publish failures that must
surface (never a silent drop)."""

from __future__ import annotations

import pytest

from dataflows.rabbitmq import StreamSink, Topology
from pulse.errors import RetriableError
from pulse.messages import RecordBatch, partition_for
from tests.dataflows.rabbitmq.streams import new_stage, read_stream


def test_part_fn_picks_the_tenants_stream_among_sorted_partition_names() -> None:
    sink = StreamSink("amqp://unused", "load", 16)
    parts = sorted(sink.list_parts())  # how Bytewax indexes part_fn's result
    for tenant in range(200):
        expected = Topology.stream("load", partition_for(tenant, 16))
        assert parts[sink.part_fn(str(tenant))] == expected


@pytest.mark.integration
def test_write_batch_publishes_bytes_and_record_batches_in_order(rabbit_url: str) -> None:
    stage = new_stage(rabbit_url, 2)
    part = StreamSink(rabbit_url, stage, 2, window=3).build_part("out", f"etl.{stage}.1", None)
    batch = RecordBatch(7, 1, None, "jira.issue", [{"raw_id": 1}])
    try:
        part.write_batch([b"a", batch, b"b", b"c", b"d"])
        part.write_batch([b"e"])
    finally:
        part.close()
    got = read_stream(rabbit_url, Topology.stream(stage, 1), 6)
    assert [m.body for m in got] == [b"a", batch.to_json(), b"b", b"c", b"d", b"e"]
    assert read_stream(rabbit_url, Topology.stream(stage, 0), 0, settle=0.1) == []


@pytest.mark.integration
def test_an_unroutable_message_fails_the_write(rabbit_url: str) -> None:
    stage = new_stage(rabbit_url, 2)
    # A sink that believes in 3 partitions: nothing is bound to routing key "2".
    part = StreamSink(rabbit_url, stage, 3).build_part("out", f"etl.{stage}.2", None)
    try:
        with pytest.raises(RetriableError, match="unroutable"):
            part.write_batch([b"lost?"])
    finally:
        part.close()


@pytest.mark.integration
def test_a_missing_exchange_fails_the_write(rabbit_url: str) -> None:
    part = StreamSink(rabbit_url, "nosuchstage", 1).build_part("out", "etl.nosuchstage.0", None)
    try:
        with pytest.raises(RetriableError, match="channel closed"):
            part.write_batch([b"x"])
    finally:
        part.close()
