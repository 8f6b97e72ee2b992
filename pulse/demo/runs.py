"""Starting the demo's runs through the jobs service, exactly as "Run now" in the UI does: the
runs are rows the UI lists, and with RabbitMQ their requests go to `etl.extract`."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from pulse.jobs import ExtractDispatcher, JobService
from pulse.settings import Settings
from storage.db import transaction
from storage.repositories import jobs


def start_full_runs(
    engine: Engine,
    factory: sessionmaker[Session],
    settings: Settings,
    tenant_id: int,
    integration_ids: list[int],
) -> list[int]:
    """A full run of each integration's job; returns the run ids in the same order."""
    with transaction(factory) as session:
        job_ids = [jobs.ensure_job(session, tenant_id, i).id for i in integration_ids]
    dispatcher = ExtractDispatcher(settings.rabbitmq_url, name="demo")
    with JobService(
        factory, dispatcher, max_retries=settings.etl_max_retries, engine=engine
    ) as service:
        return [service.run_now(tenant_id, job_id, kind="full").id for job_id in job_ids]
