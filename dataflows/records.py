"""What flows between the dataflow steps: raw records unpacked from their messages, and the
dead items (a poison message, a record the rules refused, a batch the loader refused) that are
diverted to `dead_letters` and the dead-letter queue instead of stopping the flow.

Streams cannot nack, so a bad message is turned into a `DeadItem` here, in code, and the
offset moves on past it; the dead item is stored before the epoch that read it commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dataflows.rabbitmq.stream_source import StreamMessage
from dataflows.rabbitmq.topology import Topology
from pulse.messages import MessageError, RecordBatch

# The keys a raw record carries through the transform window (RecordBatch fields flattened in).
Record = dict[str, Any]
_PREVIEW = 100_000  # characters of a poison body kept in dead_letters.message


@dataclass(frozen=True, slots=True)
class DeadItem:
    """Something a stage could not process, with everything needed to requeue or inspect it."""

    stage: str  # transform | load
    source_queue: str  # where it came from, e.g. etl.raw.3; its dead queue is etl.dead.raw
    error: str
    message: str  # the record or message as received (JSON text)
    tenant_id: int | None = None
    integration_id: int | None = None
    job_run_id: int | None = None
    entity: str | None = None
    external_id: str | None = None
    raw_id: int | None = None

    @property
    def dead_letter_routing_key(self) -> str:
        """The DLX routing key: the stage's exchange, bound to `etl.dead.<stage>`."""
        return Topology.exchange(self.source_queue.split(".")[1])


def unpack_raw_message(message: StreamMessage, source_queue: str) -> list[Record | DeadItem]:
    """A raw stream message → its records (see `unpack_batch`); a body that is not a valid
    `RecordBatch` is one dead item."""
    try:
        batch = RecordBatch.from_json(message.body)
    except MessageError as exc:
        return [
            DeadItem(
                stage="transform",
                source_queue=source_queue,
                error=f"offset {message.offset}: {exc}",
                message=message.body.decode("utf-8", "replace")[:_PREVIEW],
            )
        ]
    return unpack_batch(batch, source_queue, where=f"offset {message.offset}")


def unpack_batch(batch: RecordBatch, source_queue: str, *, where: str) -> list[Record | DeadItem]:
    """One flattened record per raw record; a record without a usable raw id, external id,
    version or payload is dead on its own and the rest go on. `where` locates the batch in
    error messages (a stream offset)."""
    out: list[Record | DeadItem] = []
    for record in batch.records:
        problem = _record_problem(record)
        if problem is not None:
            out.append(
                DeadItem(
                    stage="transform",
                    source_queue=source_queue,
                    error=f"{where}: {problem}",
                    message=_json(record),
                    tenant_id=batch.tenant_id,
                    integration_id=batch.integration_id,
                    job_run_id=batch.job_run_id,
                    entity=batch.entity,
                    external_id=_text_or_none(record.get("external_id")),
                    raw_id=_int_or_none(record.get("raw_id")),
                )
            )
            continue
        out.append(
            {
                "tenant_id": batch.tenant_id,
                "integration_id": batch.integration_id,
                "job_run_id": batch.job_run_id,
                "entity": batch.entity,
                "raw_id": int(record["raw_id"]),
                "external_id": str(record["external_id"]),
                "version": str(record["version"]),
                "payload": record["payload"],
            }
        )
    return out


def _record_problem(record: dict[str, Any]) -> str | None:
    if _int_or_none(record.get("raw_id")) is None:
        return f"record has no integer raw_id (got {record.get('raw_id')!r})"
    for name in ("external_id", "version"):
        if _text_or_none(record.get(name)) is None:
            return f"record {record.get('raw_id')} has no {name}"
    if "payload" not in record or not isinstance(record["payload"], dict):
        return f"record {record['raw_id']} has no payload object"
    return None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _text_or_none(value: Any) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
        return str(value)
    return None


def _json(value: Any) -> str:
    return json.dumps(value, default=str)[:_PREVIEW]
