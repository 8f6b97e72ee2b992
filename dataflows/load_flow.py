"""The load dataflow: `etl.load.<p>` streams → PostgreSQL (one transaction per tenant batch)
→ vectorize requests.

    load (StreamSource, the shard's partitions)
      → parse (LoadMessage; a poison body → dead item)
      → key on tenant → postgres (LoadSink: LoadStage.load per tenant, chunked)
    dead items → DeadLetterSink (dead_letters + etl.dead.load).

The sink is a `FixedPartitionedSink` that returns only after its transactions committed and
the vectorize requests were confirmed by the broker, so with recovery on, an epoch's offsets
commit only after its rows did (docs/exactly-once.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source
from bytewax.outputs import FixedPartitionedSink, Sink, StatefulSinkPartition

from dataflows.load import LoadStage, dead_load_message
from dataflows.rabbitmq.publisher import ConfirmedPublisher
from dataflows.rabbitmq.stream_source import StreamMessage
from dataflows.rabbitmq.topology import VECTORIZE_QUEUE
from dataflows.records import DeadItem
from pulse.messages import LoadMessage, MessageError, VectorizeRequest
from storage.loader import DATETIME_COLUMNS

DEFAULT_MAX_OUTPUTS = 2000  # records per transaction when a write holds many messages


def build_load_flow(
    source: Source[StreamMessage],
    load_sink: Sink[tuple[str, LoadMessage]],
    dead_sink: Sink[tuple[str, DeadItem]],
    *,
    flow_id: str = "load",
) -> Dataflow:
    flow = Dataflow(flow_id)
    messages = op.input("load", flow, source)
    parsed = op.map("parse", messages, parse_load_message)
    split = op.branch("split_dead", parsed, lambda item: isinstance(item, DeadItem))
    loads = cast("Stream[LoadMessage]", split.falses)
    dead = cast("Stream[DeadItem]", split.trues)
    keyed = op.key_on("tenant", loads, lambda message: str(message.tenant_id))
    op.output("postgres", keyed, load_sink)
    op.output("dead_letters", op.key_on("dead_key", dead, lambda _: "dead"), dead_sink)
    return flow


def parse_load_message(message: StreamMessage) -> LoadMessage | DeadItem:
    try:
        return LoadMessage.from_json(message.body, DATETIME_COLUMNS)
    except MessageError as exc:
        return dead_load_message(message.body, message.offset, str(exc))


def tenant_batches(
    messages: Sequence[LoadMessage], max_outputs: int
) -> list[tuple[int, list[LoadMessage]]]:
    """Group a write's messages by tenant (first-seen order), at most `max_outputs` records per
    group unless one message alone is bigger."""
    by_tenant: dict[int, list[list[LoadMessage]]] = {}
    sizes: dict[int, int] = {}
    for message in messages:
        groups = by_tenant.setdefault(message.tenant_id, [[]])
        size = len(message.outputs) + len(message.raw_ids)
        if groups[-1] and sizes[message.tenant_id] + size > max_outputs:
            groups.append([])
            sizes[message.tenant_id] = 0
        groups[-1].append(message)
        sizes[message.tenant_id] = sizes.get(message.tenant_id, 0) + size
    return [(tenant, group) for tenant, groups in by_tenant.items() for group in groups]


class LoadSink(FixedPartitionedSink[LoadMessage, None]):
    """One partition per process (a shard is one process); each write loads its messages."""

    def __init__(
        self,
        stage_factory: Callable[[str], tuple[LoadStage, Callable[[], None]]],
        *,
        max_outputs: int = DEFAULT_MAX_OUTPUTS,
    ) -> None:
        self._stage_factory = stage_factory
        self._max_outputs = max_outputs

    def list_parts(self) -> list[str]:
        return ["postgres"]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _LoadPartition:
        stage, close = self._stage_factory(f"{step_id}:{for_part}")
        return _LoadPartition(stage, close, self._max_outputs)


class _LoadPartition(StatefulSinkPartition[LoadMessage, None]):
    def __init__(self, stage: LoadStage, close: Callable[[], None], max_outputs: int) -> None:
        self._stage = stage
        self._close = close
        self._max_outputs = max_outputs

    def write_batch(self, values: list[LoadMessage]) -> None:
        for tenant_id, messages in tenant_batches(values, self._max_outputs):
            self._stage.load(tenant_id, messages)

    def snapshot(self) -> None:
        return None

    def close(self) -> None:
        self._close()


class VectorizePublisher:
    """Publishes vectorize requests to the `etl.vectorize` quorum queue, confirmed; connects
    on first use (a load shard may never change a fact's text)."""

    def __init__(self, url: str, name: str) -> None:
        self._url = url
        self._name = name
        self._publisher: ConfirmedPublisher | None = None

    def __call__(self, requests: Sequence[VectorizeRequest]) -> None:
        if self._publisher is None:
            self._publisher = ConfirmedPublisher(self._url, name=self._name)
        for request in requests:
            self._publisher.publish("", VECTORIZE_QUEUE, request.to_json())

    def close(self) -> None:
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None
