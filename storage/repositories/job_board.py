"""What the jobs page reads: one card per job with its integration and latest run, the run
history, and the schedule edit. One query per card list, so the home page stays fast."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from storage.repositories.mappings import EditError
from storage.schema import Integration, Job, JobRun

ACTIVE_RUN_STATES = ("queued", "running", "rate_limited", "paused")
MIN_INTERVAL_SECONDS = 60
MAX_INTERVAL_SECONDS = 30 * 86_400


@dataclass(frozen=True, slots=True)
class JobCard:
    job: Job
    integration: Integration
    last_run: JobRun | None

    @property
    def active_run(self) -> JobRun | None:
        run = self.last_run
        return run if run is not None and run.state in ACTIVE_RUN_STATES else None


# One alias for the module: a fresh alias per call would make every query a new statement
# for SQLAlchemy's compiled-statement cache (and cost a compile per page view).
_LAST_RUN = aliased(JobRun, name="latest_run")


def _cards_query(tenant_id: int) -> Select[Job, Integration, JobRun]:
    last = _LAST_RUN
    return (
        select(Job, Integration, last)
        .join(
            Integration,
            (Integration.id == Job.integration_id) & (Integration.tenant_id == tenant_id),
        )
        .outerjoin(last, (last.id == Job.last_run_id) & (last.tenant_id == tenant_id))
        .where(Job.tenant_id == tenant_id)
    )


def job_cards(session: Session, tenant_id: int) -> list[JobCard]:
    rows = session.execute(_cards_query(tenant_id).order_by(Integration.name, Job.id))
    return [JobCard(job, integration, run) for job, integration, run in rows]


def job_card(session: Session, tenant_id: int, job_id: int) -> JobCard | None:
    row = session.execute(_cards_query(tenant_id).where(Job.id == job_id)).first()
    return None if row is None else JobCard(row[0], row[1], row[2])


@dataclass(frozen=True, slots=True)
class RunRow:
    run: JobRun
    integration_name: str


def run_history(
    session: Session,
    tenant_id: int,
    *,
    job_id: int | None = None,
    state: str | None = None,
    limit: int = 25,
    offset: int = 0,
) -> list[RunRow]:
    """Runs newest first, with the integration they ran for."""
    query = (
        select(JobRun, Integration.name)
        .join(Integration, Integration.id == JobRun.integration_id)
        .where(JobRun.tenant_id == tenant_id)
    )
    if job_id is not None:
        query = query.where(JobRun.job_id == job_id)
    if state:
        query = query.where(JobRun.state == state)
    rows = session.execute(query.order_by(JobRun.id.desc()).limit(limit).offset(offset))
    return [RunRow(run, name) for run, name in rows]


def active_run_for_integration(
    session: Session, tenant_id: int, integration_id: int
) -> JobRun | None:
    """The integration's run in flight, if any (enabling or disabling waits for it)."""
    return session.scalar(
        select(JobRun)
        .where(
            JobRun.tenant_id == tenant_id,
            JobRun.integration_id == integration_id,
            JobRun.state.in_(ACTIVE_RUN_STATES),
        )
        .order_by(JobRun.id.desc())
        .limit(1)
    )


def set_schedule(
    session: Session,
    tenant_id: int,
    job_id: int,
    *,
    schedule_interval_seconds: int,
    retry_interval_seconds: int,
) -> Job | None:
    """Change how often the job runs and how soon it retries; the next run moves with it."""
    for name, value in (
        ("schedule_interval_seconds", schedule_interval_seconds),
        ("retry_interval_seconds", retry_interval_seconds),
    ):
        if not MIN_INTERVAL_SECONDS <= value <= MAX_INTERVAL_SECONDS:
            raise EditError(f"use between {MIN_INTERVAL_SECONDS} seconds and 30 days", field=name)
    job = session.scalar(select(Job).where(Job.tenant_id == tenant_id, Job.id == job_id))
    if job is None:
        return None
    job.schedule_interval_seconds = schedule_interval_seconds
    job.retry_interval_seconds = retry_interval_seconds
    if job.state == "ready" and job.next_run_at is not None:
        last = session.scalar(select(JobRun.finished_at).where(JobRun.id == job.last_run_id))
        if last is not None:
            job.next_run_at = last + timedelta(seconds=schedule_interval_seconds)
    session.flush()
    return job
