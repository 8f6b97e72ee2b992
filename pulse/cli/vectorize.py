"""`pulse vectorize`: a vectorize worker, or a one-off sweep of the re-embed backlog."""

from __future__ import annotations

import argparse
import socket
from typing import Any

from pulse.cli.health import add_health_port, health_port


def register(commands: Any) -> None:
    vectorize = commands.add_parser(
        "vectorize",
        help="run a vectorize worker (embeddings into Qdrant)",
        description="Consume vectorize requests from etl.vectorize, embed the work items and pull "
        "requests whose text changed, and upsert them into Qdrant. Run several side by side. "
        "With --sweep, embed every fact whose vector is missing or stale, then exit.",
    )
    vectorize.add_argument(
        "--name",
        default=f"vectorize-{socket.gethostname()}",
        help="process name, unique per worker (default: vectorize-HOSTNAME)",
    )
    vectorize.add_argument(
        "--provider",
        choices=("auto", "local", "openai"),
        help="embedding provider (default: EMBEDDING_PROVIDER, auto): local = the packaged "
        "sentence-transformers model; openai = each tenant's embedding integration; auto = "
        "the integration when a tenant has one, else the local model",
    )
    vectorize.add_argument(
        "--sweep",
        action="store_true",
        help="embed the backlog of every active tenant (no RabbitMQ needed), then exit",
    )
    add_health_port(vectorize)
    vectorize.set_defaults(handler=_vectorize)


def _vectorize(args: argparse.Namespace) -> int:
    if args.sweep:
        return _sweep(args)
    from dataflows.vectorize.service import run_vectorize_process

    run_vectorize_process(
        args.settings, name=args.name, provider=args.provider, health_port=health_port(args)
    )
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from dataflows.vectorize.backlog import sweep_tenant
    from dataflows.vectorize.embedders import TenantEmbedders
    from dataflows.vectorize.providers import LocalEmbedder
    from dataflows.vectorize.store import open_store
    from storage.crypto import cipher_for
    from storage.db import make_engine, session_factory
    from storage.repositories.tenants import list_tenants

    settings = args.settings
    engine = make_engine(settings.database_url)
    factory = session_factory(engine)
    store = open_store(settings)
    embedders = TenantEmbedders(
        factory,
        cipher_for(settings),
        provider=args.provider or settings.embedding_provider,
        local=LocalEmbedder(batch_size=settings.vectorize_batch_size),
    )
    try:
        with factory() as session:
            tenants = [(t.id, t.name) for t in list_tenants(session) if t.active]
        for tenant_id, name in tenants:
            result = sweep_tenant(factory, embedders, store, tenant_id)
            print(
                f"{name}: embedded {result.embedded}, unchanged {result.unchanged}, "
                f"hash mismatches {result.mismatched}"
            )
    finally:
        embedders.close()
        store.close()
        engine.dispose()
    return 0
