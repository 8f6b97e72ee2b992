"""Jobs and their runs: atomic starts, state changes and stage counts.

A job belongs to one (tenant, integration). Starting a run is one conditional UPDATE of the job's
state, so two schedulers or two clicks never start two runs of one job.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pulse.errors import ConfigurationError
from storage.schema import Integration, Job, JobRun, utcnow

STARTABLE = ("ready", "failed", "rate_limited")


def ensure_job(session: Session, tenant_id: int, integration_id: int) -> Job:
    job = session.scalar(
        select(Job).where(Job.tenant_id == tenant_id, Job.integration_id == integration_id)
    )
    if job is None:
        owner = session.scalar(
            select(Integration.tenant_id).where(Integration.id == integration_id)
        )
        if owner != tenant_id:
            raise ConfigurationError(
                f"integration {integration_id} does not belong to tenant {tenant_id}",
                tenant=tenant_id,
                integration=integration_id,
            )
        job = Job(
            tenant_id=tenant_id,
            integration_id=integration_id,
            state="ready",
            enabled=True,
            next_run_at=utcnow(),
        )
        session.add(job)
        session.flush()
    return job


def get_job(session: Session, tenant_id: int, job_id: int) -> Job | None:
    return session.scalar(select(Job).where(Job.tenant_id == tenant_id, Job.id == job_id))


def list_jobs(session: Session, tenant_id: int) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.tenant_id == tenant_id).order_by(Job.id)))


def get_run(session: Session, tenant_id: int, run_id: int) -> JobRun | None:
    return session.scalar(select(JobRun).where(JobRun.tenant_id == tenant_id, JobRun.id == run_id))


def list_runs(session: Session, tenant_id: int, job_id: int, limit: int = 20) -> list[JobRun]:
    return list(
        session.scalars(
            select(JobRun)
            .where(JobRun.tenant_id == tenant_id, JobRun.job_id == job_id)
            .order_by(JobRun.id.desc())
            .limit(limit)
        )
    )


def start_run(
    session: Session, tenant_id: int, job_id: int, *, kind: str = "incremental"
) -> JobRun | None:
    """Flip the job to running and create its run; None when it is not startable (already
    running, paused, disabled or another tenant's)."""
    flipped = session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            Job.tenant_id == tenant_id,
            Job.enabled.is_(True),
            Job.state.in_(STARTABLE),
        )
        .values(state="running", updated_at=utcnow())
        .returning(Job.integration_id, Job.watermark)
    ).first()
    if flipped is None:
        return None
    integration_id, watermark = flipped
    run = JobRun(
        tenant_id=tenant_id,
        integration_id=integration_id,
        job_id=job_id,
        kind=kind,
        state="queued",
        since=None if kind == "full" else watermark,
        created_at=utcnow(),
    )
    session.add(run)
    session.flush()
    session.execute(update(Job).where(Job.id == job_id).values(last_run_id=run.id))
    return run
