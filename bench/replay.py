"""Replay benchmark: seconds to re-transform and reload a 100,000-issue tenant after a mapping
change, through the outbox relay, RabbitMQ and the running transform and load shards.

    .venv/bin/python bench/replay.py [--issues N --shards K --unchanged]

Setup (not timed): the issues are stored as raw records and loaded through the running shards
(`bench/pipeline.py` does the same and is imported from here). Timed: a status mapping is added
(the tenant's config version moves, so every work item must be rewritten), then
`dataflows.replay.replay_tenant` queues the tenant's newest raw records in the outbox and the
relay publishes them (`StreamPublisher`, as `pulse replay` does), and the benchmark waits until
the tenant has no unprocessed raw record (`pulse replay` waits the same way). Progress goes to
stderr; one JSON line to stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the synthetic issues live with the pipeline tests

from pipeline import (  # noqa: E402 - bench/pipeline.py
    add_dataflow_options,
    flow_env,
    generate,
    peak_rss,
    query_one,
    restarts_of,
    run_bench,
    run_pipeline,
    running_shards,
    throwaway_vhost,
    wait_processed,
)
from sqlalchemy import select  # noqa: E402
from support import progress  # noqa: E402

from connectors.extract.service import StreamPublisher  # noqa: E402
from dataflows.batching import TenantWindow  # noqa: E402
from dataflows.rabbitmq.stream_source import StreamMessage  # noqa: E402
from dataflows.records import DeadItem, unpack_raw_message  # noqa: E402
from dataflows.replay import replay_tenant  # noqa: E402
from dataflows.tenant_configs import TenantConfigs  # noqa: E402
from dataflows.transform_flow import transform_for_tenant  # noqa: E402
from storage.db import make_engine, session_factory, transaction  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.repositories import mappings  # noqa: E402
from storage.schema import Workflow  # noqa: E402
from tests.dataflows.pipeline.synthetic_store import autoanalyze, make_tenant  # noqa: E402

CHANGED_STATUS = "Awaiting Customer"  # unmapped in the synthetic data until the replay maps it
MAPPED_TO = "In Progress"


def change_mapping(factory: Any, tenant_id: int) -> None:
    with transaction(factory) as session:
        step = session.scalar(
            select(Workflow).where(Workflow.tenant_id == tenant_id, Workflow.step_name == MAPPED_TO)
        )
        assert step is not None
        mappings.create_status_mapping(
            session, tenant_id, source_name=CHANGED_STATUS, workflow_id=step.id
        )


def rules_alone(factory: Any, tenant_id: int, spool: Any, batch_size: int) -> tuple[int, float]:
    """The physical floor of one partition: the spooled raw messages unpacked and transformed
    by the same functions in this one process, no broker, no database write. A tenant is one
    partition, so its replay cannot beat one core running this. Returns (records, seconds)."""
    configs = TenantConfigs(factory)
    configs.get(tenant_id)  # read the configuration before the clock starts
    records = 0
    started = time.perf_counter()
    for offset, (_, body) in enumerate(spool):
        items = [
            item
            for item in unpack_raw_message(StreamMessage(0, offset, body), "etl.raw.0")
            if not isinstance(item, DeadItem)
        ]
        window = TenantWindow(None, max_size=batch_size, max_delay=timedelta(0))
        flushed, _ = window.on_batch(items)
        rest, _ = window.on_notify()
        for batch in [*flushed, *rest]:
            transformed = transform_for_tenant(tenant_id, batch, configs, lambda runs: set())
            transformed.load.to_json()
            records += len(batch.records)
    return records, time.perf_counter() - started


def bench(args: argparse.Namespace, url: str, work: Path) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    factory = session_factory(engine)
    tenant = make_tenant(factory, "Replay")
    partitions = args.partitions
    progress(f"generating {args.issues} issues")
    setup = generate(url, [tenant], args.issues, partitions)
    progress(
        f"  {setup.records} raw records, {setup.spool.bytes / 1e6:.0f} MB, {setup.seconds:.0f} s"
    )
    try:
        with (
            throwaway_vhost(partitions) as rabbit,
            running_shards(
                flow_env(url, rabbit, partitions, work, args.env), args.shards, partitions, work
            ) as shards,
            autoanalyze(url, args.analyze_every),
        ):
            progress("loading the tenant through the shards (setup)")
            loaded = run_pipeline(url, setup, shards, rabbit)
            progress(f"  loaded in {loaded.seconds:.1f} s")
            before = query_one(url, "SELECT config_version FROM tenants WHERE id = %s", tenant.id)
            if not args.unchanged:
                change_mapping(factory, tenant.id)
            progress("the rules alone on one core (the floor of one partition)")
            floor_records, floor_seconds = rules_alone(
                factory, tenant.id, setup.spool, args.batch_size
            )
            setup.spool.close()
            progress(f"  {floor_records} records in {floor_seconds:.1f} s")

            progress("replay")
            started = time.monotonic()
            publisher = StreamPublisher(rabbit, "bench-replay")
            try:
                result = replay_tenant(
                    factory,
                    tenant.id,
                    publisher,
                    partitions=partitions,
                    batch_size=args.batch_size,
                )
            finally:
                publisher.close()
            relayed = time.monotonic()
            # `result.queued` is -1 on PostgreSQL (INSERT ... SELECT rowcount, not preserved
            # by SQLAlchemy); what the relay published is the same number.
            progress(
                f"  {result.published} records queued and relayed in {relayed - started:.1f} s"
            )
            done = wait_processed(url, shards, result.published, started, busy=None)
            seconds = done - started
            progress(f"  processed in {seconds:.1f} s")
            rss = peak_rss(shards)
            restarts = restarts_of(shards)
    finally:
        setup.spool.close()
        engine.dispose()

    version = query_one(url, "SELECT config_version FROM tenants WHERE id = %s", tenant.id)
    rewritten = query_one(
        url,
        "SELECT count(*) FROM work_items WHERE tenant_id = %s AND config_version = %s",
        tenant.id,
        version,
    )
    items = query_one(url, "SELECT count(*) FROM work_items WHERE tenant_id = %s", tenant.id)
    dead = query_one(url, "SELECT count(*) FROM dead_letters")
    expected = items if version != before else 0
    if items != args.issues or rewritten < expected or dead:
        raise RuntimeError(
            f"replay incomplete: {items} items, {rewritten} at config version {version}, "
            f"{dead} dead letters"
        )
    return {
        "issues": args.issues,
        "records_replayed": result.published,
        "mapping_changed": not args.unchanged,
        "replay_seconds": round(seconds, 1),
        "relay_seconds": round(relayed - started, 1),
        "replay_issues_per_s": round(args.issues / seconds, 1),
        "rules_alone_records_per_s": round(floor_records / floor_seconds, 1),
        # The floor for this replay's records at that rate: one tenant is one partition.
        "rules_alone_floor_seconds": round(result.published * floor_seconds / floor_records, 1),
        "rows_rewritten": rewritten if version != before else 0,
        "shards_per_stage": args.shards,
        "partitions": partitions,
        "setup_load_seconds": round(loaded.seconds, 1),
        "setup_load_issues_per_s": round(args.issues / loaded.seconds, 1),
        "peak_rss_mb_by_stage": rss,
        "analyze_every_s": args.analyze_every,
        "restarts": {stage: len(reasons) for stage, reasons in restarts.items()},
        "restart_reasons": sorted({r for reasons in restarts.values() for r in reasons})[:3],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=100_000, help="Jira issues (default 100000)")
    parser.add_argument("--partitions", type=int, default=16, help="stream partitions (default 16)")
    parser.add_argument("--shards", type=int, default=1, help="shards per stage (default 1)")
    parser.add_argument("--batch-size", type=int, default=100, help="records per raw message")
    parser.add_argument(
        "--unchanged", action="store_true", help="replay without a mapping change first"
    )
    add_dataflow_options(parser)
    return run_bench(parser.parse_args(argv), bench)


if __name__ == "__main__":
    sys.exit(main())
