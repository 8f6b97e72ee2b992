"""A tenant with Jira and GitHub integrations pointing at a running simulator."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.extract.factory import StreamFactory
from connectors.extract.runner import ExtractRunner
from connectors.simulator import SimulatorServer
from pulse.sandbox import SandboxTenant, create_sandbox_tenant
from storage import run_state
from storage.crypto import CredentialCipher
from storage.db import session_factory, transaction
from storage.repositories import jobs
from storage.schema import JobRun, RawRecord

KEY = "yS4m5XhV8C0pZ2gq9P6Tq8y9C2Yb3bXw3m7oXo8hQkU="
CIPHER = CredentialCipher(KEY)


Tenant = SandboxTenant


def make_tenant(
    factory: sessionmaker[Session],
    sim: SimulatorServer,
    site: str,
    *,
    token: str = "sim-token",
    jira_settings: dict[str, Any] | None = None,
) -> SandboxTenant:
    projects = sorted({i["key"].split("-")[0] for i in sim.truth("jira", site)["issues"]})
    with transaction(factory) as session:
        return create_sandbox_tenant(
            session,
            name=f"Tenant {site}",
            site=site,
            jira_url=sim.jira_url(site),
            github_url=sim.github_url(site),
            projects=projects,
            token=token,
            cipher=CIPHER,
            jira_settings=jira_settings,
        )


def start_run(
    factory: sessionmaker[Session], tenant_id: int, integration_id: int, **kw: Any
) -> int:
    with transaction(factory) as session:
        job = jobs.ensure_job(session, tenant_id, integration_id)
        run = jobs.start_run(session, tenant_id, job.id, **kw)
        assert run is not None, "job was not startable"
        return run.id


def finish(engine: Engine, run_id: int) -> None:
    """Stands in for the later stages: mark the run's downstream work done."""
    with transaction(session_factory(engine)) as session:
        run_state.succeed_run(session, run_id)


def extract(engine: Engine, tenant_id: int, integration_id: int, **kw: Any) -> int:
    """Start a run, extract it and finish it; returns the run id."""
    factory = session_factory(engine)
    run_id = start_run(factory, tenant_id, integration_id, **kw)
    result = runner(engine).run(run_id)
    assert result.outcome.value == "extracted", result.detail
    finish(engine, run_id)
    return run_id


def runner(engine: Engine, **kw: Any) -> ExtractRunner:
    factory = session_factory(engine)
    return ExtractRunner(
        factory,
        StreamFactory(
            factory, CIPHER, max_retries=kw.pop("max_retries", 3), **kw.pop("streams", {})
        ),
        partitions=kw.pop("partitions", 16),
        max_retries=3,
        **kw,
    )


def raw_ids(engine: Engine, integration_id: int, entity: str) -> set[str]:
    with session_factory(engine)() as session:
        return set(
            session.scalars(
                select(RawRecord.external_id)
                .where(RawRecord.integration_id == integration_id, RawRecord.entity == entity)
                .distinct()
            )
        )


def run_row(engine: Engine, run_id: int) -> JobRun:
    with session_factory(engine)() as session:
        run = session.get(JobRun, run_id)
        assert run is not None
        return run


def raw_count(engine: Engine, **where: Any) -> int:
    with session_factory(engine)() as session:
        query = select(func.count()).select_from(RawRecord)
        for column, value in where.items():
            query = query.where(getattr(RawRecord, column) == value)
        return int(session.scalar(query) or 0)
