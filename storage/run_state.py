"""Run bookkeeping for the workers (extract, dataflows, vectorize). These functions act on a
run by id: the run row carries its tenant, and nothing here is reachable from a request. The
tenant-facing reads and the atomic start live in `storage.repositories.jobs`."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.schema import DeadLetter, Integration, Job, JobRun, utcnow

TERMINAL_RUN_STATES = ("succeeded", "failed", "cancelled")


def claim_run(session: Session, run_id: int) -> JobRun | None:
    """Move a queued, rate-limited or interrupted run to running; None when it is finished."""
    run = session.get(JobRun, run_id, with_for_update=True)
    if run is None or run.state in TERMINAL_RUN_STATES:
        return run
    now = utcnow()
    run.state = "running"
    run.stage = run.stage or "extract"
    run.started_at = run.started_at or now
    run.heartbeat_at = now
    run.rate_limited_until = None
    session.execute(update(Job).where(Job.id == run.job_id).values(state="running"))
    return run


def cancel_requested(session: Session, run_id: int) -> bool:
    return session.scalar(select(JobRun.cancel_requested_at).where(JobRun.id == run_id)) is not None


def add_extracted(session: Session, run_id: int, stored: int, requests: int) -> None:
    """Counted in the transaction that commits the page, so a count is never ahead of rows."""
    session.execute(
        update(JobRun)
        .where(JobRun.id == run_id)
        .values(
            extracted=JobRun.extracted + stored,
            requests=JobRun.requests + requests,
            heartbeat_at=utcnow(),
        )
    )


def mark_rate_limited(session: Session, run_id: int, until: datetime, reason: str) -> None:
    run = session.get(JobRun, run_id)
    if run is None:
        return
    run.state = "rate_limited"
    run.rate_limited_until = until
    run.error = reason
    session.execute(
        update(Job)
        .where(Job.id == run.job_id)
        .values(state="rate_limited", rate_limited_until=until, next_run_at=until)
    )


def finish_extract(session: Session, run_id: int, watermark: datetime) -> None:
    """Every stream of the run is complete: the job's watermark moves to the run's start."""
    run = session.get(JobRun, run_id)
    if run is None:
        return
    run.stage = "transform"
    session.execute(
        update(Job)
        .where(Job.id == run.job_id)
        .values(watermark=watermark, rate_limited_until=None, consecutive_failures=0)
    )


def fail_run(
    session: Session, run_id: int, error: str, *, max_retries: int, final: bool = False
) -> None:
    """A failed run: the job retries after its retry interval until `max_retries` consecutive
    failures, then stays failed with the error shown."""
    run = session.get(JobRun, run_id)
    if run is None:
        return
    now = utcnow()
    run.state, run.error, run.finished_at = "failed", error, now
    job = session.get(Job, run.job_id)
    if job is None:
        return
    job.consecutive_failures = (job.consecutive_failures or 0) + 1
    job.last_error = error
    if final or job.consecutive_failures > max_retries:
        job.state, job.next_run_at = "failed", None
    else:
        job.state = "ready"
        job.next_run_at = now + timedelta(seconds=job.retry_interval_seconds)


def cancel_run(session: Session, run_id: int) -> None:
    run = session.get(JobRun, run_id)
    if run is None or run.state in TERMINAL_RUN_STATES:
        return
    now = utcnow()
    run.state, run.finished_at = "cancelled", now
    run.cancel_requested_at = run.cancel_requested_at or now
    session.execute(update(Job).where(Job.id == run.job_id).values(state="ready"))


def integration_of(session: Session, run: JobRun) -> Integration:
    integration = session.get(Integration, run.integration_id)
    if integration is None or integration.tenant_id != run.tenant_id:
        raise LookupError(f"run {run.id} names a missing integration {run.integration_id}")
    return integration


def note_total(session: Session, run_id: int, entity: str, total: int) -> None:
    """Record the source's own total for the run's main entity (issues, pull requests), which
    the progress bar and the ETA use."""
    if entity == "jira.issue":  # GitHub reports per-repository totals, not the run's
        session.execute(update(JobRun).where(JobRun.id == run_id).values(total_expected=total))


def note_error(session: Session, run_id: int, error: str) -> None:
    session.execute(update(JobRun).where(JobRun.id == run_id).values(error=error))


def record_dead_letter(
    session: Session,
    *,
    stage: str,
    message: str,
    error: str,
    tenant_id: int | None = None,
    integration_id: int | None = None,
    job_run_id: int | None = None,
    source_queue: str | None = None,
    entity: str | None = None,
    external_id: str | None = None,
    attempts: int = 1,
) -> DeadLetter:
    row = DeadLetter(
        tenant_id=tenant_id,
        integration_id=integration_id,
        job_run_id=job_run_id,
        stage=stage,
        source_queue=source_queue,
        entity=entity,
        external_id=external_id,
        message=message,
        error=error,
        attempts=attempts,
        status="open",
    )
    session.add(row)
    session.flush()
    return row


def succeed_run(session: Session, run_id: int) -> None:
    """Every stage has processed what the previous one produced: the run is over and the job
    waits for its next scheduled time."""
    run = session.get(JobRun, run_id)
    if run is None or run.state in TERMINAL_RUN_STATES:
        return
    now = utcnow()
    run.state, run.stage, run.finished_at = "succeeded", None, now
    job = session.get(Job, run.job_id)
    if job is not None and job.state == "running":
        job.state = "ready"
        job.next_run_at = now + timedelta(seconds=job.schedule_interval_seconds)
        job.consecutive_failures = 0


def dead_letter_exists(session: Session, *, stage: str, error: str, message: str) -> bool:
    """Whether this exact item is already stored (a replayed dataflow epoch stores it once)."""
    found = session.scalar(
        select(DeadLetter.id)
        .where(DeadLetter.stage == stage, DeadLetter.error == error, DeadLetter.message == message)
        .limit(1)
    )
    return found is not None


def cancelled_runs(session: Session, run_ids: Collection[int]) -> set[int]:
    """Which of `run_ids` are cancelled or have a cancel request: the dataflows drop their
    records (one query per window, not per record)."""
    if not run_ids:
        return set()
    rows = session.scalars(
        select(JobRun.id).where(
            JobRun.id.in_(sorted(run_ids)),
            (JobRun.state == "cancelled") | JobRun.cancel_requested_at.is_not(None),
        )
    )
    return set(rows)
