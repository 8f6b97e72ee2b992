"""Builds a stage's dataflow for one shard from the settings, and runs it with recovery.

A shard is one single-process Bytewax dataflow owning partitions k, k+K, ... of its stage, with
its own recovery directory (`STATE_DIR/recovery/<stage>-<k>-of-<K>`): K shards scale a stage
across processes or machines, and a crashed shard stalls only its own partitions. Changing K
moves partitions between shards; a partition a shard has no snapshot for starts from the
stream's first offset, which the version-guarded loads make slow but harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource
from bytewax.outputs import FixedPartitionedSink
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.run import cli_main

from dataflows.dead_letters import DeadLetterSink, DeadLetterWriter, rabbit_dead_publish
from dataflows.load import LoadStage
from dataflows.load_flow import LoadSink, VectorizePublisher, build_load_flow
from dataflows.observed import CountedSink, ObservedSource, ShardObserver
from dataflows.rabbitmq.stream_sink import StreamSink
from dataflows.rabbitmq.stream_source import StreamMessage, StreamSource
from dataflows.rabbitmq.topology import Topology
from dataflows.tenant_configs import TenantConfigs
from dataflows.transform_flow import build_transform_flow
from pulse.errors import ConfigurationError
from pulse.messages import LoadMessage
from pulse.settings import Settings
from storage.db import make_engine, session_factory, transaction
from storage.run_state import cancelled_runs

log = logging.getLogger(__name__)
X = TypeVar("X")

STAGES = ("transform", "load")
SNAPSHOT_INTERVAL = timedelta(seconds=1)


def _rabbitmq_url(settings: Settings) -> str:
    if settings.rabbitmq_url is None:
        raise ConfigurationError(
            "the dataflows need RABBITMQ_URL; without it the stages run embedded (pulse demo)"
        )
    return settings.rabbitmq_url


def declare_topology(settings: Settings) -> None:
    topology = Topology(settings.etl_partitions, settings.etl_max_retries)
    topology.declare_at(_rabbitmq_url(settings))


def build_stage_flow(
    settings: Settings,
    stage: str,
    shard: int,
    shards: int,
    *,
    stop_at_idle: float | None = None,
    observer: ShardObserver | None = None,
) -> Dataflow:
    """The shard's dataflow; with an `observer`, its source reports what it reads and its
    sinks what they wrote (the health and metrics of `pulse flow`)."""
    url = _rabbitmq_url(settings)
    factory = session_factory(make_engine(settings.database_url))
    name = f"{stage}-{shard}-of-{shards}"
    source_stage = "raw" if stage == "transform" else "load"
    source = _watched(
        StreamSource.for_shard(
            url,
            source_stage,
            settings.etl_partitions,
            shard,
            shards,
            prefetch=settings.etl_stream_prefetch,
            stop_at_idle=stop_at_idle,
        ),
        observer,
    )
    processed = observer.processed if observer is not None else None
    failed = observer.failed if observer is not None else None
    dead_sink = _counted(DeadLetterSink(factory, url), failed, lambda _: 1)
    if stage == "transform":

        def cancelled(runs: set[int]) -> set[int]:
            if not runs:
                return set()
            with transaction(factory) as session:
                return cancelled_runs(session, runs)

        return build_transform_flow(
            source,
            _counted(StreamSink(url, "load", settings.etl_partitions), processed, _raw_records),
            dead_sink,
            TenantConfigs(factory),
            cancelled,
            batch_size=settings.etl_batch_size,
            max_delay=timedelta(milliseconds=settings.etl_batch_max_delay_ms),
            flow_id=f"transform-{shard}-of-{shards}",
        )
    if stage == "load":

        def load_stage(part_name: str) -> tuple[LoadStage, Callable[[], None]]:
            publish_dead, close_dead = rabbit_dead_publish(url, f"{name}:dead")
            vectors = VectorizePublisher(url, f"{name}:vectorize")

            def close() -> None:
                close_dead()
                vectors.close()

            return LoadStage(factory, DeadLetterWriter(factory, publish_dead), vectors), close

        return build_load_flow(
            source,
            _counted(LoadSink(load_stage), processed, lambda message: len(message.outputs)),
            dead_sink,
            flow_id=f"load-{shard}-of-{shards}",
        )
    raise ConfigurationError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")


def _watched(
    source: StreamSource, observer: ShardObserver | None
) -> FixedPartitionedSource[StreamMessage, int | None]:
    return source if observer is None else ObservedSource(source, observer.read)


def _counted(
    sink: FixedPartitionedSink[X, None],
    report: Callable[[int], None] | None,
    size: Callable[[X], int],
) -> FixedPartitionedSink[X, None]:
    """`sink`, reporting the sum of `size` over each batch it wrote (when there is `report`)."""
    if report is None:
        return sink
    return CountedSink(sink, lambda values: report(sum(size(value) for value in values)))


def _raw_records(value: Any) -> int:
    """The raw records a transform output covers (its load message's raw ids)."""
    return len(value.raw_ids) if isinstance(value, LoadMessage) else 0


def recovery_dir_for(settings: Settings, stage: str, shard: int, shards: int) -> Path:
    return Path(settings.state_dir) / "recovery" / f"{stage}-{shard}-of-{shards}"


def run_with_recovery(flow: Dataflow, recovery_dir: Path) -> None:
    """Run until the source ends (never, in production), committing every second: a restart
    after any crash resumes from the last committed epoch."""
    recovery_dir.mkdir(parents=True, exist_ok=True)
    if not any(recovery_dir.glob("part-*.sqlite3")):
        init_db_dir(recovery_dir, 1)
    log.info("running %s with recovery in %s", flow.flow_id, recovery_dir)
    cli_main(
        flow,
        epoch_interval=SNAPSHOT_INTERVAL,
        recovery_config=RecoveryConfig(recovery_dir, backup_interval=timedelta(0)),
    )
