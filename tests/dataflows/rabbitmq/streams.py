"""Test helpers: a throwaway stage of stream partitions, and reading a stream to its end."""

from __future__ import annotations

import secrets
import time

from dataflows.rabbitmq import StreamMessage, Topology, connect
from dataflows.rabbitmq.stream_source import StreamPartition, partition_of


def new_stage(url: str, partitions: int, prefix: str = "t") -> str:
    """Declares `etl.<stage>` and its streams under a fresh stage name; returns the name."""
    stage = f"{prefix}{secrets.token_hex(3)}"
    connection = connect(url, name="test-topology")
    try:
        channel = connection.channel()
        exchange = Topology.exchange(stage)
        channel.exchange_declare(exchange, "direct", durable=True)
        for p in range(partitions):
            queue = Topology.stream(stage, p)
            channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "stream"})
            channel.queue_bind(queue, exchange, routing_key=str(p))
    finally:
        connection.close()
    return stage


def read_stream(
    url: str,
    queue: str,
    expected: int,
    *,
    timeout: float = 20.0,
    settle: float = 0.3,
) -> list[StreamMessage]:
    """Reads `queue` from the first offset until `expected` messages came, then waits `settle`
    seconds more so that extra (duplicate) messages would show up too."""
    part = StreamPartition(url, queue, partition_of(queue), None, name="test-reader")
    try:
        got: list[StreamMessage] = []
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            got.extend(part.next_batch())
            time.sleep(0.005)
        end = time.monotonic() + settle
        while time.monotonic() < end:
            got.extend(part.next_batch())
            time.sleep(0.02)
        return got
    finally:
        part.close()
