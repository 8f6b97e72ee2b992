"""Jobs and their runs: atomic starts and the admin's flips (pause, resume, cancel, retry).

A job belongs to one (tenant, integration). Every flip is one conditional UPDATE of the job's
or the run's state (`UPDATE ... WHERE state IN (...)`), so two schedulers or two clicks never
start two runs of one job, and a click that lost the race finds nothing to flip (None).

A rate-limited job is not startable: its run is waiting for the credential's budget and the
scheduler re-queues that same run at the reset time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from pulse.errors import ConfigurationError
from storage import run_state
from storage.schema import Integration, Job, JobRun, Tenant, utcnow

STARTABLE = ("ready", "failed")
ACTIVE_RUN_STATES = ("queued", "running", "rate_limited", "paused")
# A run can be paused only while it is extracting (or waiting to): later stages just finish
# what was extracted, the job stays paused afterwards.
_PAUSABLE_RUN_STATES = ("queued", "running", "rate_limited")


@dataclass(frozen=True, slots=True)
class QueuedRun:
    """A run that needs an extract request on `etl.extract` once the transaction commits."""

    tenant_id: int
    integration_id: int
    run_id: int


@dataclass(frozen=True, slots=True)
class ResumeOutcome:
    job_id: int
    state: str  # the job's state now: running (its run goes on) or ready
    requeued: QueuedRun | None  # the paused run, back in the queue


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    run_id: int
    # True: the run is cancelled now. False: an extract worker holds it and stops before its
    # next page (the caller may finish it with `run_state.cancel_run` once no worker holds it).
    cancelled: bool


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
        .returning(Job.integration_id, Job.watermark, Job.consecutive_failures)
    ).first()
    if flipped is None:
        return None
    integration_id, watermark, failures = flipped
    now = utcnow()
    run = JobRun(
        tenant_id=tenant_id,
        integration_id=integration_id,
        job_id=job_id,
        kind=kind,
        state="queued",
        attempt=(failures or 0) + 1,
        since=None if kind == "full" else watermark,
        created_at=now,
        heartbeat_at=now,  # the watchdog measures a queued run's wait from here
    )
    session.add(run)
    session.flush()
    session.execute(update(Job).where(Job.id == job_id).values(last_run_id=run.id))
    return run


def find_job(session: Session, tenant_id: int, integration_id: int) -> Job | None:
    """The job of one of the tenant's integrations."""
    return session.scalar(
        select(Job).where(Job.tenant_id == tenant_id, Job.integration_id == integration_id)
    )


def retry_job(
    session: Session, tenant_id: int, job_id: int, *, kind: str = "incremental"
) -> JobRun | None:
    """Start a failed job again with a fresh retry budget; None when it is not failed."""
    flipped = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.tenant_id == tenant_id, Job.state == "failed")
        .values(consecutive_failures=0, updated_at=utcnow())
        .returning(Job.id)
    ).first()
    if flipped is None:
        return None
    return start_run(session, tenant_id, job_id, kind=kind)


def pause_job(session: Session, tenant_id: int, job_id: int) -> Job | None:
    """Stop scheduling the job; its run, if still extracting, pauses before its next page and
    keeps its checkpoints. None when the job is already paused (or not the tenant's)."""
    now = utcnow()
    flipped = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.tenant_id == tenant_id, Job.state != "paused")
        .values(state="paused", updated_at=now)
        .returning(Job.last_run_id)
    ).first()
    if flipped is None:
        return None
    if flipped.last_run_id is not None:
        session.execute(
            update(JobRun)
            .where(
                JobRun.id == flipped.last_run_id,
                JobRun.tenant_id == tenant_id,
                JobRun.state.in_(_PAUSABLE_RUN_STATES),
                or_(JobRun.stage.is_(None), JobRun.stage == "extract"),
            )
            .values(state="paused", heartbeat_at=now)
        )
    return get_job(session, tenant_id, job_id)


def resume_job(session: Session, tenant_id: int, job_id: int) -> ResumeOutcome | None:
    """Undo a pause. A paused run goes back to the queue and continues from its checkpoints
    (`requeued`: the caller sends it to the extract workers after commit); a run still in a
    later stage keeps the job running; otherwise the job waits for its next scheduled time
    (now, if it never had one). None when the job is not paused."""
    now = utcnow()
    flipped = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.tenant_id == tenant_id, Job.state == "paused")
        .values(state="ready", rate_limited_until=None, updated_at=now)
        .returning(Job.integration_id, Job.last_run_id, Job.next_run_at)
    ).first()
    if flipped is None:
        return None
    last = flipped.last_run_id
    if last is not None:
        requeued = session.scalar(
            update(JobRun)
            .where(JobRun.id == last, JobRun.state == "paused")
            .values(state="queued", heartbeat_at=now, rate_limited_until=None)
            .returning(JobRun.id)
        )
        still_active = (
            requeued is not None
            or session.scalar(select(JobRun.state).where(JobRun.id == last)) in ACTIVE_RUN_STATES
        )
        if still_active:
            session.execute(update(Job).where(Job.id == job_id).values(state="running"))
            queued = QueuedRun(tenant_id, flipped.integration_id, last) if requeued else None
            return ResumeOutcome(job_id, "running", queued)
    if flipped.next_run_at is None:
        session.execute(update(Job).where(Job.id == job_id).values(next_run_at=now))
    return ResumeOutcome(job_id, "ready", None)


def request_cancel(session: Session, tenant_id: int, run_id: int) -> CancelOutcome | None:
    """Ask the run to stop. A run no extract worker is working on (queued, rate limited,
    paused, or past extract) is cancelled at once: the dataflows drop its records still in
    flight (`run_state.cancelled_runs`). A run being extracted stops before its next page.
    None when the run is over already (or not the tenant's)."""
    flipped = session.execute(
        update(JobRun)
        .where(
            JobRun.id == run_id,
            JobRun.tenant_id == tenant_id,
            JobRun.state.not_in(run_state.TERMINAL_RUN_STATES),
        )
        .values(cancel_requested_at=func.coalesce(JobRun.cancel_requested_at, utcnow()))
        .returning(JobRun.state, JobRun.stage)
    ).first()
    if flipped is None:
        return None
    if flipped.state == "running" and flipped.stage in (None, "extract"):
        return CancelOutcome(run_id, cancelled=False)
    run_state.cancel_run(session, run_id)
    return CancelOutcome(run_id, cancelled=True)


@dataclass(frozen=True, slots=True)
class JobLine:
    """One row of `pulse jobs list`: a job with its tenant, integration and latest run."""

    tenant_slug: str
    integration_name: str
    provider: str
    job: Job
    last_run: JobRun | None


def job_lines(session: Session, tenant_id: int | None = None) -> list[JobLine]:
    """Every job (of one tenant, or of all for operators), with its latest run."""
    query = (
        select(Tenant.slug, Integration.name, Integration.provider, Job, JobRun)
        .join(
            Integration,
            (Integration.id == Job.integration_id) & (Integration.tenant_id == Job.tenant_id),
        )
        .join(Tenant, Tenant.id == Job.tenant_id)
        .outerjoin(JobRun, (JobRun.id == Job.last_run_id) & (JobRun.tenant_id == Job.tenant_id))
        .order_by(Tenant.slug, Integration.name)
    )
    if tenant_id is not None:
        query = query.where(Job.tenant_id == tenant_id)
    return [JobLine(*row) for row in session.execute(query)]
