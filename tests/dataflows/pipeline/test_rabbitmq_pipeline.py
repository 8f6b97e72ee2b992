"""The production path end to end, for two tenants, with real processes, RabbitMQ and
PostgreSQL: simulator → extract (raw store + outbox) → relay to the etl.raw streams →
`pulse flow transform` → etl.load streams → `pulse flow load` → PostgreSQL → etl.vectorize →
vectorize worker → Qdrant (local mode). A poison message on the way ends in dead_letters and
the dead-letter queue while everything else loads; no row or vector crosses tenants."""

from __future__ import annotations

from pathlib import Path

import pytest
from qdrant_client import QdrantClient
from sqlalchemy import Engine, func, select

from connectors.extract.relay import relay_once
from connectors.extract.service import StreamPublisher
from connectors.simulator import SimulatorServer, config_for
from dataflows.rabbitmq import VECTORIZE_QUEUE, ConfirmedPublisher, Topology, connect
from dataflows.vectorize import LocalEmbedder, QdrantStore, VectorizeWorker, search
from pulse.messages import partition_for
from storage.db import session_factory
from storage.schema import DeadLetter, PullRequest, RawRecord, VectorPoint, WorkItem
from tests.connectors.extract.env import make_tenant, runner, start_run
from tests.dataflows.pipeline.processes import pulse_env, run_pulse

pytestmark = [pytest.mark.integration]

PARTITIONS = 4


def _counts(engine: Engine, model: type, column: str = "tenant_id") -> dict[int, int]:
    with session_factory(engine)() as session:
        rows = session.execute(
            select(getattr(model, column), func.count()).group_by(getattr(model, column))
        )
        return {tenant: count for tenant, count in rows}


def test_two_tenants_flow_through_rabbitmq_into_postgresql(
    pg_engine: Engine, pg_url: str, vhost_url: str, tmp_path: Path
) -> None:
    factory = session_factory(pg_engine)
    Topology(PARTITIONS, 3).declare_at(vhost_url)
    with SimulatorServer(config_for("issues=80,prs=20,repos=2,histories=15", seed=7)) as sim:
        tenants = {site: make_tenant(factory, sim, site) for site in ("acme", "globex")}
        for tenant in tenants.values():
            for integration_id in (tenant.jira_id, tenant.github_id):
                run_id = start_run(factory, tenant.id, integration_id)
                outcome = runner(pg_engine, partitions=PARTITIONS).run(run_id).outcome
                assert outcome.value == "extracted"
        truth = {
            site: (
                len(sim.truth("jira", site)["issues"]),
                len(sim.truth("github", site)["pull_requests"]),
            )
            for site in tenants
        }
    publisher = StreamPublisher(vhost_url, "test-relay")
    try:
        while relay_once(factory, publisher, batch_size=25):
            pass
    finally:
        publisher.close()
    poison_partition = partition_for(tenants["acme"].id, PARTITIONS)
    with ConfirmedPublisher(vhost_url, name="test-poison") as poison:
        poison.publish(Topology.exchange("raw"), str(poison_partition), b"{truncated")

    env = pulse_env(pg_url, vhost_url, tmp_path)
    log = tmp_path / "flows.log"
    run_pulse(env, "flow", "transform", "--stop-at-idle", "3", log=log)
    run_pulse(env, "flow", "load", "--stop-at-idle", "3", log=log)

    items, prs = _counts(pg_engine, WorkItem), _counts(pg_engine, PullRequest)
    for site, tenant in tenants.items():
        assert (items[tenant.id], prs[tenant.id]) == truth[site], site
    with factory() as session:
        unprocessed = session.scalar(
            select(func.count()).select_from(RawRecord).where(RawRecord.processed_at.is_(None))
        )
        crossing = session.scalar(
            select(func.count())
            .select_from(WorkItem)
            .join(RawRecord, RawRecord.id == WorkItem.raw_id)
            .where(RawRecord.tenant_id != WorkItem.tenant_id)
        )
        dead = list(session.scalars(select(DeadLetter)))
    assert (unprocessed, crossing) == (0, 0)
    assert [(d.stage, d.source_queue) for d in dead] == [
        ("transform", f"etl.raw.{poison_partition}")
    ]
    assert "not JSON" in dead[0].error
    assert dead[0].message == "{truncated"
    assert _queue_depth(vhost_url, "etl.dead.raw") == 1

    # Vectorize: the load stage's requests, through the quorum queue, into local Qdrant.
    requests = _queue_depth(vhost_url, VECTORIZE_QUEUE)
    assert requests > 0
    embedder = LocalEmbedder(batch_size=32)
    store = QdrantStore(QdrantClient(path=str(tmp_path / "qdrant")))
    try:
        worker = VectorizeWorker(
            factory,
            embedder,
            store,
            rabbitmq_url=vhost_url,
            topology=Topology(PARTITIONS, 3),
            name="vectorize-test",
        )
        worker.serve(max_settled=requests)
        points = _counts(pg_engine, VectorPoint)
        for site, tenant in tenants.items():
            assert points[tenant.id] == sum(truth[site]), site
            hits = search(store, embedder, tenant.id, "pull request review", limit=20)
            assert hits
            assert {hit.integration_id for hit in hits} <= {tenant.jira_id, tenant.github_id}
    finally:
        store.close()


def _queue_depth(url: str, queue: str) -> int:
    connection = connect(url, name="test-depth")
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()
