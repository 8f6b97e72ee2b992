"""The transform dataflow: `etl.raw.<p>` streams → per-tenant windows → rules → `etl.load.<p>`.

    raw (StreamSource, the shard's partitions)
      → unpack (RecordBatch → records; a poison message or record → dead item)
      → key on tenant → window (TenantWindow: size or max delay from the first record,
        newest version per item)
      → transform (TenantConfigs cache, cancelled runs dropped, rule failures → dead items)
      → load (StreamSink: etl.load.<partition_for(tenant)>, confirmed)
    dead items → DeadLetterSink (dead_letters + etl.dead.raw), inside the same epoch.

Run with recovery (`pulse flow transform`): the source offsets, the open windows and both
sinks' writes commit together per epoch; see docs/exactly-once.md.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source
from bytewax.operators import StatefulBatchLogic
from bytewax.outputs import Sink

from dataflows.batching import TenantWindow, WindowBatch, WindowState
from dataflows.rabbitmq.stream_source import StreamMessage
from dataflows.rabbitmq.topology import Topology
from dataflows.records import DeadItem, Record, unpack_raw_message
from dataflows.rules import RecordError
from dataflows.tenant_configs import TenantConfigs, UnknownTenantError
from dataflows.transform import TransformedWindow, rule_failure, transform_window
from pulse.messages import LoadMessage

# run ids → the cancelled ones among them (storage.run_state.cancelled_runs in production)
CancelledRuns = Callable[[set[int]], set[int]]


def build_transform_flow(
    source: Source[StreamMessage],
    load_sink: Sink[tuple[str, Any]],
    dead_sink: Sink[tuple[str, DeadItem]],
    configs: TenantConfigs,
    cancelled_runs: CancelledRuns,
    *,
    batch_size: int,
    max_delay: timedelta,
    flow_id: str = "transform",
) -> Dataflow:
    flow = Dataflow(flow_id)
    messages = op.input("raw", flow, source)
    unpacked = op.flat_map("unpack", messages, _unpack)
    split = op.branch("split_dead", unpacked, lambda item: isinstance(item, DeadItem))
    records = cast("Stream[Record]", split.falses)
    keyed = op.key_on("tenant", records, lambda record: str(record["tenant_id"]))

    def window(state: WindowState | None) -> StatefulBatchLogic[Record, WindowBatch, WindowState]:
        return TenantWindow(state, max_size=batch_size, max_delay=max_delay)

    windows = op.stateful_batch("window", keyed, window)

    def transform(item: tuple[str, WindowBatch]) -> tuple[str, TransformedWindow]:
        tenant, batch = item
        return tenant, transform_for_tenant(int(tenant), batch, configs, cancelled_runs)

    transformed = op.map("transform", windows, transform)
    loads = op.map_value("load_message", transformed, lambda result: result.load)
    op.output("load", loads, load_sink)
    rule_dead = op.flat_map("rule_dead", transformed, lambda item: item[1].dead)
    dead = op.merge("dead", cast("Stream[DeadItem]", split.trues), rule_dead)
    op.output("dead_letters", op.key_on("dead_key", dead, lambda _: "dead"), dead_sink)
    return flow


def transform_for_tenant(
    tenant_id: int, batch: WindowBatch, configs: TenantConfigs, cancelled_runs: CancelledRuns
) -> TransformedWindow:
    """One window through the rules; a tenant that no longer exists dead-letters the window."""
    runs = {r["job_run_id"] for r in batch.records if r["job_run_id"] is not None}
    try:
        config = configs.get(tenant_id)
    except UnknownTenantError as exc:
        return _all_dead(tenant_id, batch, str(exc))
    return transform_window(tenant_id, batch, config, cancelled_runs=cancelled_runs(runs))


def _all_dead(tenant_id: int, batch: WindowBatch, reason: str) -> TransformedWindow:
    dead = [
        rule_failure(r, RecordError(r["entity"], r["external_id"], "tenant_id", reason))
        for r in batch.records
    ]
    load = LoadMessage(
        tenant_id=tenant_id,
        outputs=[],
        raw_ids=list(batch.superseded_raw_ids),
        dead_raw_ids=[r["raw_id"] for r in batch.records],
    )
    return TransformedWindow(load, dead)


def _unpack(message: StreamMessage) -> list[Record | DeadItem]:
    return unpack_raw_message(message, Topology.stream("raw", message.partition))
