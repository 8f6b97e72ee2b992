"""The transform stage: a tenant's window of raw records → one `LoadMessage`.

`transform_window` is the whole stage as a plain function (the Bytewax flow in
`dataflows.transform_flow` and the embedded pipeline both call it): each record goes through
the pure rules with the tenant's configuration; a record the rules refuse becomes a dead item
and its raw id travels as `dead_raw_ids`, so it is marked processed with the batch and the run
can still complete. Records of a cancelled run are dropped (marked processed, nothing loaded).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field

from dataflows.batching import WindowBatch
from dataflows.records import DeadItem, Record
from dataflows.rules import RecordError, transform_record
from pulse.messages import LoadMessage
from pulse.tenant_config import TenantConfig

RAW_SOURCE = "etl.raw"


@dataclass(slots=True)
class TransformedWindow:
    load: LoadMessage
    dead: list[DeadItem] = field(default_factory=list)
    dropped: int = 0  # records of cancelled runs


def transform_window(
    tenant_id: int,
    batch: WindowBatch,
    config: TenantConfig,
    *,
    cancelled_runs: Collection[int] = (),
) -> TransformedWindow:
    if config.tenant_id != tenant_id:
        raise ValueError(f"configuration of tenant {config.tenant_id} used for tenant {tenant_id}")
    outputs = []
    raw_ids: list[int] = list(batch.superseded_raw_ids)
    dead_raw_ids: list[int] = []
    dead: list[DeadItem] = []
    runs: set[int] = set()
    dropped = 0
    for record in batch.records:
        run = record["job_run_id"]
        if run is not None and run in cancelled_runs:
            raw_ids.append(record["raw_id"])
            dropped += 1
            continue
        try:
            output = transform_record(
                record["entity"],
                record["raw_id"],
                record["external_id"],
                record["version"],
                record["payload"],
                config,
                record["integration_id"],
                run,
            )
        except RecordError as exc:
            dead.append(rule_failure(record, exc))
            dead_raw_ids.append(record["raw_id"])
            continue
        raw_ids.append(record["raw_id"])
        if run is not None:
            runs.add(run)
        if output.rows:
            outputs.append(output.rows)
    load = LoadMessage(
        tenant_id=tenant_id,
        outputs=outputs,
        raw_ids=raw_ids,
        dead_raw_ids=dead_raw_ids,
        job_run_ids=sorted(runs),
    )
    return TransformedWindow(load, dead, dropped)


def rule_failure(record: Record, exc: RecordError) -> DeadItem:
    return DeadItem(
        stage="transform",
        source_queue=RAW_SOURCE,
        error=str(exc),
        message=json.dumps(record, default=str),
        tenant_id=record["tenant_id"],
        integration_id=record["integration_id"],
        job_run_id=record["job_run_id"],
        entity=record["entity"],
        external_id=record["external_id"],
        raw_id=record["raw_id"],
    )
