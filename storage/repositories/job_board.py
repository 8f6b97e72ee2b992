"""What the jobs page reads: one card per job with its integration and latest run, the run
history, and the schedule edit. One query per card list, so the home page stays fast."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Select, bindparam, select
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


# Statements built once with the tenant as a bound parameter: the jobs page is the home page, and
# building a statement costs more Python than sending it (storage/repositories/listing.py).
_LAST_RUN = aliased(JobRun, name="latest_run")
_CARDS = (
    select(Job, Integration, _LAST_RUN)
    .join(
        Integration,
        (Integration.id == Job.integration_id) & (Integration.tenant_id == bindparam("tenant_id")),
    )
    .outerjoin(
        _LAST_RUN,
        (_LAST_RUN.id == Job.last_run_id) & (_LAST_RUN.tenant_id == bindparam("tenant_id")),
    )
    .where(Job.tenant_id == bindparam("tenant_id"))
)
_ALL_CARDS = _CARDS.order_by(Integration.name, Job.id)
_ONE_CARD = _CARDS.where(Job.id == bindparam("job_id"))


def job_cards(session: Session, tenant_id: int) -> list[JobCard]:
    rows = session.execute(_ALL_CARDS, {"tenant_id": tenant_id})
    return [JobCard(job, integration, run) for job, integration, run in rows]


def job_card(session: Session, tenant_id: int, job_id: int) -> JobCard | None:
    row = session.execute(_ONE_CARD, {"tenant_id": tenant_id, "job_id": job_id}).first()
    return None if row is None else JobCard(row[0], row[1], row[2])


@dataclass(frozen=True, slots=True)
class RunRow:
    run: JobRun
    integration_name: str


def _history_statement(by_job: bool, by_state: bool) -> Select[JobRun, str]:
    query = (
        select(JobRun, Integration.name)
        .join(Integration, Integration.id == JobRun.integration_id)
        .where(JobRun.tenant_id == bindparam("tenant_id"))
    )
    if by_job:
        query = query.where(JobRun.job_id == bindparam("job_id"))
    if by_state:
        query = query.where(JobRun.state == bindparam("state"))
    ordered = query.order_by(JobRun.id.desc()).limit(bindparam("limit"))
    return ordered.offset(bindparam("offset"))


_HISTORY = {
    (by_job, by_state): _history_statement(by_job, by_state)
    for by_job in (False, True)
    for by_state in (False, True)
}


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
    statement = _HISTORY[job_id is not None, bool(state)]
    values = {"tenant_id": tenant_id, "job_id": job_id, "state": state}
    rows = session.execute(statement, {**values, "limit": limit, "offset": offset})
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
