"""The embedded pipeline: simulator → extract → transform → load in one process gives the
simulator's items as facts, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select, update

from connectors.extract.embedded import extract_in_process
from connectors.extract.factory import StreamFactory
from connectors.simulator import SimulatorServer, config_for
from dataflows.embedded import EmbeddedPipeline
from dataflows.replay import replay_tenant
from pulse.messages import VectorizeRequest
from storage.db import session_factory, transaction
from storage.repositories.tenants import bump_config_version
from storage.schema import (
    PullRequest,
    RawRecord,
    StatusMapping,
    Workflow,
    WorkItem,
    WorkItemTransition,
)
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


def test_replay_after_a_mapping_change_rewrites_facts_with_no_api_call(
    any_engine: Engine,
) -> None:
    factory = session_factory(any_engine)
    pipeline = EmbeddedPipeline(factory, batch_size=40)
    with SimulatorServer(config_for("issues=30,prs=0,repos=1,histories=10", seed=9)) as sim:
        tenant = make_tenant(factory, sim, "acme")
        extract_in_process(
            factory,
            StreamFactory(factory, CIPHER, max_retries=2),
            start_run(factory, tenant.id, tenant.jira_id),
            pipeline.accept,
            partitions=16,
            max_retries=2,
            batch_size=40,
            after_drain=pipeline.process_pending,
        )
        requests_before = sim.stats()["total"]
        with transaction(factory) as session:
            done = session.scalars(select(Workflow).where(Workflow.tenant_id == tenant.id))
            target = next(step for step in done if step.category == "done")
            session.execute(
                update(StatusMapping)
                .where(StatusMapping.tenant_id == tenant.id)
                .values(workflow_id=target.id)
            )
            version = bump_config_version(session, tenant.id)
        first = replay_tenant(
            factory,
            tenant.id,
            pipeline.accept,
            partitions=16,
            batch_size=40,
            after_relay=pipeline.process_pending,
        )
        second = replay_tenant(
            factory,
            tenant.id,
            pipeline.accept,
            partitions=16,
            batch_size=40,
            after_relay=pipeline.process_pending,
        )
        assert sim.stats()["total"] == requests_before  # zero API calls
    with factory() as session:
        items = list(session.scalars(select(WorkItem).where(WorkItem.tenant_id == tenant.id)))
    assert len(items) == 30
    assert {item.workflow_step for item in items if item.status_mapped} == {target.step_name}
    assert {item.config_version for item in items} == {version}
    assert first.queued == second.queued == first.published >= 30
    assert pipeline.counts.dead == 0
