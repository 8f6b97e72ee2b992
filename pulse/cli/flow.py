"""`pulse flow transform|load`: one shard of a stage's Bytewax dataflow, with recovery, a
heartbeat row and optionally the health and metrics port."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pulse.cli.health import add_health_port, health_port


def register(commands: Any) -> None:
    flow = commands.add_parser(
        "flow",
        help="run one shard of the transform or load dataflow",
        description="Run shard K of N of a stage: it reads stream partitions K, K+N, ... of its "
        "input stage, commits every second to its recovery directory, and resumes from there "
        "after any crash. Run N of them (any hosts) to scale a stage out.",
    )
    flow.add_argument("stage", choices=("transform", "load"))
    flow.add_argument("--shard", type=int, default=0, help="this shard's number, from 0")
    flow.add_argument("--shards", type=int, default=1, help="how many shards the stage runs")
    flow.add_argument(
        "--recovery-dir",
        type=Path,
        help="recovery directory (default: STATE_DIR/recovery/STAGE-K-of-N); keep it on a volume",
    )
    flow.add_argument(
        "--stop-at-idle",
        type=float,
        metavar="SECONDS",
        help="exit once every partition has been idle this long (tests and benchmarks)",
    )
    flow.add_argument(
        "--name",
        help="process name for its heartbeat (default: STAGE-K-of-N, e.g. transform-0-of-4)",
    )
    flow.add_argument(
        "--probe-lag",
        action="store_true",
        help="also measure the streams' lag in this process for /metrics (reads each stream's "
        "last chunk every 5 s; by default the scheduler's queue monitor does it from the "
        "offsets this shard's heartbeat records)",
    )
    add_health_port(flow)
    flow.set_defaults(handler=_flow)


def _flow(args: argparse.Namespace) -> None:
    from dataflows.malloc import limit_arenas
    from dataflows.shards import (
        build_stage_flow,
        declare_topology,
        recovery_dir_for,
        run_with_recovery,
    )
    from pulse.errors import ConfigurationError
    from pulse.ops.shard import ShardMonitor
    from storage.db import make_engine, session_factory
    from storage.heartbeats import Heartbeat

    if not 0 <= args.shard < args.shards:
        raise ConfigurationError(f"--shard must be in 0..{args.shards - 1}, got {args.shard}")
    settings = args.settings
    limit_arenas()  # before any reader thread allocates (see dataflows/malloc.py)
    declare_topology(settings)
    name = args.name or f"{args.stage}-{args.shard}-of-{args.shards}"
    engine = make_engine(settings.database_url)
    heartbeat = Heartbeat(session_factory(engine), name, args.stage)
    monitor = ShardMonitor(
        args.stage, settings.rabbitmq_url, heartbeat, probe_streams=args.probe_lag
    )
    flow = build_stage_flow(
        settings,
        args.stage,
        args.shard,
        args.shards,
        stop_at_idle=args.stop_at_idle,
        observer=monitor,
    )
    directory = args.recovery_dir or recovery_dir_for(settings, args.stage, args.shard, args.shards)
    try:
        with monitor.running(health_port(args)):
            run_with_recovery(flow, directory)
    finally:
        engine.dispose()
