"""The embedded pipeline: simulator → extract → transform → load in one process gives the
simulator's items as facts, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from connectors.extract.embedded import extract_in_process
from connectors.extract.factory import StreamFactory
from connectors.simulator import SimulatorServer, config_for
from dataflows.embedded import EmbeddedPipeline
from pulse.messages import VectorizeRequest
from storage.db import session_factory
from storage.schema import PullRequest, RawRecord, WorkItem, WorkItemTransition
from tests.connectors.extract.env import CIPHER, make_tenant, start_run


def _count(engine: Engine, model: Any, tenant_id: int) -> int:
    with session_factory(engine)() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
            )
            or 0
        )


def test_embedded_pipeline_loads_what_the_simulator_holds(any_engine: Engine) -> None:
    factory = session_factory(any_engine)
    requests: list[VectorizeRequest] = []
    pipeline = EmbeddedPipeline(factory, batch_size=40, request_vectors=requests.extend)
    with SimulatorServer(config_for("issues=60,prs=15,repos=2,histories=20", seed=5)) as sim:
        tenant = make_tenant(factory, sim, "acme")
        for integration_id in (tenant.jira_id, tenant.github_id):
            extract_in_process(
                factory,
                StreamFactory(factory, CIPHER, max_retries=2),
                start_run(factory, tenant.id, integration_id),
                pipeline.accept,
                partitions=16,
                max_retries=2,
                batch_size=40,
                after_drain=pipeline.process_pending,
            )
        issues = sim.truth("jira", "acme")["issues"]
        prs = sim.truth("github", "acme")["pull_requests"]
    assert _count(any_engine, WorkItem, tenant.id) == len(issues)
    assert _count(any_engine, PullRequest, tenant.id) == len(prs)
    assert _count(any_engine, WorkItemTransition, tenant.id) > 0
    with session_factory(any_engine)() as session:
        unprocessed = session.scalar(
            select(func.count()).select_from(RawRecord).where(RawRecord.processed_at.is_(None))
        )
    assert unprocessed == 0
    assert pipeline.counts.dead == 0
    vectorized = {(r.entity, x) for r in requests for x in r.external_ids}
    assert len(vectorized) == len(issues) + len(prs)
