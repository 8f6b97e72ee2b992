"""The dataflow test_kill.py runs (and kills) in a subprocess:
`python -m bytewax.run "tests.dataflows.rabbitmq.kill_flow:build_flow()" -r DIR -s 1 -b 0`.

StreamSource over a stage's partitions → key by partition → a FixedPartitionedSink that inserts
each message's id into PostgreSQL with ON CONFLICT DO NOTHING and, in the same transaction, logs
(process id, partition, first offset, rows attempted) per write, so the test can tell where each
run resumed and how many rows were rewritten.

Configuration comes from the environment (KILL_RABBIT_URL, KILL_PG_URL, KILL_STAGE,
KILL_PARTITIONS, KILL_TABLE, KILL_WRITE_DELAY), read when the flow is built.
"""

from __future__ import annotations

import os
import time

import bytewax.operators as op
import psycopg
from bytewax.dataflow import Dataflow
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from psycopg import sql

from dataflows.rabbitmq import StreamMessage, StreamSource


class _RowsPartition(StatefulSinkPartition[StreamMessage, None]):
    def __init__(self, pg_url: str, table: str, delay: float) -> None:
        self._connection = psycopg.connect(pg_url)
        self._insert = sql.SQL(
            "INSERT INTO {} (id) SELECT unnest(%s::bigint[]) ON CONFLICT DO NOTHING"
        ).format(sql.Identifier(table))
        self._log = sql.SQL(
            "INSERT INTO {} (pid, partition, first_offset, attempted) VALUES (%s, %s, %s, %s)"
        ).format(sql.Identifier(f"{table}_writes"))
        self._delay = delay

    def write_batch(self, values: list[StreamMessage]) -> None:
        ids = [int(message.body) for message in values]
        first: dict[int, tuple[int, int]] = {}
        for message in values:
            offset, count = first.get(message.partition, (message.offset, 0))
            first[message.partition] = (min(offset, message.offset), count + 1)
        with self._connection.transaction(), self._connection.cursor() as cursor:
            cursor.execute(self._insert, (ids,))
            cursor.executemany(
                self._log, [(os.getpid(), p, low, n) for p, (low, n) in first.items()]
            )
        # Stands in for a slower database (seconds per row), so kills land mid-run.
        time.sleep(self._delay * len(ids))

    def snapshot(self) -> None:
        return None

    def close(self) -> None:
        self._connection.close()


class _RowsSink(FixedPartitionedSink[StreamMessage, None]):
    def __init__(self, pg_url: str, table: str, delay: float) -> None:
        self._args = (pg_url, table, delay)

    def list_parts(self) -> list[str]:
        return ["rows"]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _RowsPartition:
        return _RowsPartition(*self._args)


def build_flow() -> Dataflow:
    env = os.environ
    source = StreamSource.for_shard(
        env["KILL_RABBIT_URL"],
        env["KILL_STAGE"],
        int(env["KILL_PARTITIONS"]),
        max_batch=200,  # activations well below the 1 s epoch, as in production
        stop_at_idle=2.0,
    )
    sink = _RowsSink(env["KILL_PG_URL"], env["KILL_TABLE"], float(env["KILL_WRITE_DELAY"]))
    flow = Dataflow("kill_test")
    messages = op.input("read", flow, source)
    keyed = op.key_on("by_partition", messages, lambda m: str(m.partition))
    op.output("rows", keyed, sink)
    return flow
