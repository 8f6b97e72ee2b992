"""`pulse replay`: re-transform a tenant's stored raw data (no API calls)."""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: Any) -> None:
    replay = commands.add_parser(
        "replay",
        help="re-transform a tenant's stored raw records (after a mapping change)",
        description="Send the newest stored raw record of each of the tenant's items through "
        "transform and load again, with zero API calls. With RABBITMQ_URL the running `pulse "
        "flow` shards do the work and this command shows their progress; without it the "
        "stages run in this process. Idempotent.",
    )
    replay.add_argument("--tenant", required=True, help="tenant slug, name or id")
    replay.add_argument("--integration", type=int, help="only this integration id")
    replay.add_argument("--entity", help="only this entity, e.g. jira.issue")
    replay.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds to wait for the dataflows"
    )
    replay.add_argument(
        "--no-wait", action="store_true", help="queue and publish, then exit without waiting"
    )
    replay.set_defaults(handler=_replay)


def _replay(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from connectors.extract.service import StreamPublisher
    from dataflows.embedded import EmbeddedPipeline, embedded_vectorizer
    from dataflows.replay import replay_tenant, wait_processed
    from pulse.errors import ConfigurationError
    from storage.db import make_engine, session_factory
    from storage.repositories import tenants

    settings = args.settings
    engine = make_engine(settings.database_url)
    factory = session_factory(engine)
    try:
        with factory() as session:
            tenant = tenants.find_tenant(session, args.tenant)
        if tenant is None:
            raise ConfigurationError(f"no tenant {args.tenant!r}")
        options = {
            "partitions": settings.etl_partitions,
            "batch_size": settings.etl_batch_size,
            "integration_id": args.integration,
            "entity": args.entity,
        }
        if settings.embedded:
            with embedded_vectorizer(factory, settings) as vectorize:
                pipeline = EmbeddedPipeline(
                    factory, batch_size=settings.etl_batch_size, request_vectors=vectorize
                )
                result = replay_tenant(
                    factory,
                    tenant.id,
                    pipeline.accept,
                    after_relay=pipeline.process_pending,
                    **options,
                )
            print(
                f"replayed {result.queued} records of tenant {tenant.slug!r} in "
                f"{result.seconds:.1f} s ({pipeline.counts.dead} dead-lettered)"
            )
            return 0
        publisher = StreamPublisher(settings.rabbitmq_url, "replay")
        try:
            result = replay_tenant(factory, tenant.id, publisher, **options)
        finally:
            publisher.close()
        print(f"queued and published {result.queued} records of tenant {tenant.slug!r}")
        if args.no_wait:
            return 0
        with tqdm(total=result.queued, desc="processed", unit="rec") as bar:

            def show(done: int, total: int) -> None:
                bar.update(done - bar.n)

            left = wait_processed(
                factory, tenant.id, result.queued, timeout=args.timeout, progress=show
            )
        if left:
            print(
                f"pulse: error: {left} records still unprocessed after {args.timeout:.0f} s; "
                "are the `pulse flow` shards running?"
            )
            return 1
        return 0
    finally:
        engine.dispose()
