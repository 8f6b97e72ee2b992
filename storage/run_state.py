"""Run bookkeeping for the workers (extract, dataflows, vectorize). These functions act on a
run by id: the run row carries its tenant, and nothing here is reachable from a request. The
tenant-facing reads, the atomic start and the admin's flips (pause, resume, cancel) live in
`storage.repositories.jobs`.

A paused job keeps its state through whatever its run does next: a run that fails, is
cancelled or succeeds while its job is paused leaves the job paused (`_release_job`)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from storage.schema import DeadLetter, Integration, Job, JobRun, utcnow

TERMINAL_RUN_STATES = ("succeeded", "failed", "cancelled")
# A run in one of these states must not fetch another page.
_STOP_STATES = (*TERMINAL_RUN_STATES, "paused")


def claim_run(session: Session, run_id: int) -> JobRun | None:
    """Move a queued, rate-limited or interrupted run to running; None when it does not exist.
    A finished or paused run is returned as it is: the caller stops at its first check."""
    run = session.get(JobRun, run_id, with_for_update=True)
    if run is None or run.state in _STOP_STATES:
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
    """Whether the extract must stop before its next page: a cancel was requested, the admin
    paused the run, or the run already ended (the watchdog failed it). The extract then calls
    `cancel_run`, which cancels only a requested cancel and leaves a paused run resumable."""
    row = session.execute(
        select(JobRun.cancel_requested_at, JobRun.state).where(JobRun.id == run_id)
    ).first()
    if row is None:
        return True
    return row.cancel_requested_at is not None or row.state in _STOP_STATES


def add_extracted(session: Session, run_id: int, stored: int, requests: int) -> None:
    """Counted in the transaction that commits the page, so a count is never ahead of rows.
    A page committed means the run is running: a pause and resume that came and went before
    the worker noticed leave it running on (its duplicate request is dropped)."""
    session.execute(
        update(JobRun)
        .where(JobRun.id == run_id)
        .values(
            extracted=JobRun.extracted + stored,
            requests=JobRun.requests + requests,
            heartbeat_at=utcnow(),
            state=case((JobRun.state == "queued", "running"), else_=JobRun.state),
        )
    )


def mark_rate_limited(session: Session, run_id: int, until: datetime, reason: str) -> None:
    """The run waits for the credential's budget; the scheduler re-queues it at `until`. A run
    that was paused or ended meanwhile keeps that state (only the wait is noted)."""
    run = session.get(JobRun, run_id, with_for_update=True)
    if run is None:
        return
    run.rate_limited_until = until
    run.error = reason
    if run.state in _STOP_STATES:
        return
    run.state = "rate_limited"
    session.execute(
        update(Job)
        .where(Job.id == run.job_id, Job.state != "paused")
        .values(state="rate_limited", rate_limited_until=until, next_run_at=until)
    )


def finish_extract(session: Session, run_id: int, watermark: datetime) -> None:
    """Every stream of the run is complete: the job's watermark moves to the run's start. A
    pause that arrived with the last page has nothing left to pause: the later stages go on
    (the job itself stays paused)."""
    run = session.get(JobRun, run_id)
    if run is None:
        return
    run.stage = "transform"
    run.heartbeat_at = utcnow()
    if run.state == "paused":
        run.state = "running"
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
    run = session.get(JobRun, run_id, with_for_update=True, populate_existing=True)
    if run is None or run.state in TERMINAL_RUN_STATES:
        return  # already ended (e.g. the watchdog failed it first): one failure, counted once
    now = utcnow()
    run.state, run.error, run.finished_at = "failed", error, now
    job = session.get(Job, run.job_id)
    if job is None or job.last_run_id not in (None, run.id):
        return  # an older run; the job has moved on
    job.consecutive_failures = (job.consecutive_failures or 0) + 1
    job.last_error = error
    if final or job.consecutive_failures > max_retries:
        _release_job(job, "failed", None)
    else:
        _release_job(job, "ready", now + timedelta(seconds=job.retry_interval_seconds))


def cancel_run(session: Session, run_id: int) -> None:
    """Stop the run for good. Called by the extract when `cancel_requested` said stop: a run
    the admin paused (with no cancel request) stays paused instead, keeping its checkpoints
    for `resume`."""
    run = session.get(JobRun, run_id, with_for_update=True, populate_existing=True)
    if run is None or run.state in TERMINAL_RUN_STATES:
        return
    if run.state == "paused" and run.cancel_requested_at is None:
        return
    now = utcnow()
    run.state, run.finished_at = "cancelled", now
    run.cancel_requested_at = run.cancel_requested_at or now
    job = session.get(Job, run.job_id)
    if job is not None and job.last_run_id in (None, run.id):
        # Not straight back to the scheduler: a cancelled run waits for the next interval.
        _release_job(job, "ready", now + timedelta(seconds=job.schedule_interval_seconds))


def _release_job(job: Job, state: str, next_run_at: datetime | None) -> None:
    """The job's run ended: the job takes `state`, unless the admin paused it meanwhile."""
    job.next_run_at = next_run_at
    job.rate_limited_until = None
    if job.state != "paused":
        job.state = state


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
    waits for its next scheduled time. The row is re-read under lock, so a cancel that
    arrived a moment ago wins over a completion computed from older data."""
    run = session.get(JobRun, run_id, with_for_update=True, populate_existing=True)
    if run is None or run.state in TERMINAL_RUN_STATES:
        return
    now = utcnow()
    run.state, run.stage, run.finished_at = "succeeded", None, now
    job = session.get(Job, run.job_id)
    if job is not None and job.last_run_id in (None, run.id):
        job.consecutive_failures = 0
        job.last_error = None
        _release_job(job, "ready", now + timedelta(seconds=job.schedule_interval_seconds))


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


def lock_cancelled_runs(session: Session, run_ids: Collection[int]) -> set[int]:
    """`cancelled_runs` for a load: the runs' rows stay locked until the caller's transaction
    ends (the load updates their `loaded` count anyway), so a cancel committed before is seen
    here and one requested meanwhile waits for the commit. Nothing of a run is written after
    its cancel committed."""
    if not run_ids:
        return set()
    rows = session.execute(
        select(JobRun.id, JobRun.state, JobRun.cancel_requested_at)
        .where(JobRun.id.in_(sorted(run_ids)))
        .order_by(JobRun.id)  # one lock order for every loader
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE, the mode of that count update
    )
    return {run for run, state, asked in rows if state == "cancelled" or asked is not None}


def reopen_failed_run(session: Session, run_id: int) -> bool:
    """Give a failed run another go from its checkpoints (requeueing its dead-lettered
    extract request): back to queued, its job running again. Only while the run is still its
    job's latest and the job is not running anything else; False otherwise."""
    run = session.get(JobRun, run_id, with_for_update=True, populate_existing=True)
    if run is None or run.state != "failed":
        return False
    job = session.get(Job, run.job_id, with_for_update=True, populate_existing=True)
    if job is None or job.last_run_id != run.id or job.state not in ("ready", "failed"):
        return False
    now = utcnow()
    run.state, run.finished_at, run.heartbeat_at = "queued", None, now
    job.state, job.next_run_at = "running", None
    return True
