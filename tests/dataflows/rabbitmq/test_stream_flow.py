"""A real Bytewax run, StreamSource → parse → key by tenant → StreamSink into another stage:
every batch arrives exactly once, in its tenant's partition, in the tenant's order."""

from __future__ import annotations

from collections import Counter, defaultdict

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import run_main

from dataflows.rabbitmq import (
    PipelinedPublisher,
    StreamMessage,
    StreamSink,
    StreamSource,
    Topology,
)
from pulse.messages import RecordBatch, partition_for
from tests.dataflows.rabbitmq.streams import new_stage, read_stream

pytestmark = pytest.mark.integration

# 12 partitions: "etl.x.10" sorts before "etl.x.2", which a naive part_fn gets wrong.
PARTITIONS = 12
TENANTS = 40
BATCHES = 1200


def _batch(seq: int) -> RecordBatch:
    tenant = 1 + seq % TENANTS
    records = [{"raw_id": seq * 10 + r, "external_id": f"K-{seq}-{r}"} for r in range(3)]
    return RecordBatch(tenant, 100 + tenant, seq, "jira.issue", records)


def _flow(url: str, source_stage: str, sink_stage: str) -> Dataflow:
    flow = Dataflow("stream_to_stream")
    source = StreamSource.for_shard(url, source_stage, PARTITIONS, stop_at_idle=1.0)
    messages = op.input("read", flow, source)

    def parse(message: StreamMessage) -> RecordBatch:
        return RecordBatch.from_json(message.body)

    batches = op.map("parse", messages, parse)
    keyed = op.key_on("by_tenant", batches, lambda b: str(b.tenant_id))
    op.output("publish", keyed, StreamSink(url, sink_stage, PARTITIONS, window=64))
    return flow


def test_every_batch_arrives_once_in_its_tenants_partition(rabbit_url: str) -> None:
    raw = new_stage(rabbit_url, PARTITIONS, prefix="raw")
    load = new_stage(rabbit_url, PARTITIONS, prefix="load")
    by_partition: dict[int, list[bytes]] = defaultdict(list)
    for seq in range(BATCHES):  # routed as every producer routes
        batch = _batch(seq)
        by_partition[partition_for(batch.tenant_id, PARTITIONS)].append(batch.to_json())
    producer = PipelinedPublisher(rabbit_url, name="test-fill")
    try:
        for p, bodies in by_partition.items():
            producer.publish(Topology.exchange(raw), str(p), bodies)
    finally:
        producer.close()

    run_main(_flow(rabbit_url, raw, load))

    seen: Counter[int] = Counter()
    order: dict[int, list[int]] = defaultdict(list)
    for p in range(PARTITIONS):
        messages = read_stream(
            rabbit_url, Topology.stream(load, p), len(by_partition[p]), settle=0.1
        )
        for message in messages:
            batch = RecordBatch.from_json(message.body)
            assert partition_for(batch.tenant_id, PARTITIONS) == p, (batch.tenant_id, p)
            assert batch == _batch(batch.job_run_id or 0)
            seen[batch.job_run_id or 0] += 1
            order[batch.tenant_id].append(batch.job_run_id or 0)
    assert set(seen) == set(range(BATCHES))
    assert max(seen.values()) == 1
    assert all(seqs == sorted(seqs) for seqs in order.values())
