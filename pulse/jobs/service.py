"""Run now, retry, pause, resume and cancel: the job actions, the same for the CLI and the web.

Each action is one transaction around an atomic flip in `storage.repositories.jobs`, followed
(after commit) by the extract request when a run was queued. An action that does not apply
raises `JobActionError` with a message that says why, in words an admin can act on; a job or
run of another tenant is `JobNotFound`, exactly like one that does not exist.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from connectors.extract.worker import run_lock
from pulse.errors import FatalError, RetriableError
from pulse.jobs.dispatch import ExtractDispatcher
from pulse.lifecycle import Closing
from storage import run_state
from storage.db import transaction
from storage.repositories import jobs
from storage.repositories.jobs import CancelOutcome, QueuedRun, ResumeOutcome
from storage.schema import Job, JobRun

log = logging.getLogger(__name__)


class JobActionError(FatalError):
    """The action does not apply to the job or run in its current state."""


class JobNotFound(FatalError):
    """No such job or run for this tenant."""


class JobService(Closing):
    def __init__(
        self,
        factory: sessionmaker[Session],
        dispatcher: ExtractDispatcher,
        *,
        max_retries: int,
        engine: Engine | None = None,
    ) -> None:
        self._factory = factory
        self._dispatcher = dispatcher
        self._max_retries = max_retries
        self._engine = engine

    def close(self) -> None:
        """Close the dispatcher's broker connection (opened on the first queued run)."""
        self._dispatcher.close()

    def run_now(self, tenant_id: int, job_id: int, *, kind: str = "incremental") -> JobRun:
        """Start a run now, whatever the schedule says (a failed job too: that is a retry)."""
        with transaction(self._factory) as session:
            run = jobs.start_run(session, tenant_id, job_id, kind=kind)
            if run is None:
                raise JobActionError(_why_not_startable(session, tenant_id, job_id))
            queued = QueuedRun(tenant_id, run.integration_id, run.id)
        self._dispatch(queued)
        return run

    def retry(self, tenant_id: int, job_id: int) -> JobRun:
        """Start a failed job again with a fresh retry budget."""
        with transaction(self._factory) as session:
            run = jobs.retry_job(session, tenant_id, job_id)
            if run is None:
                job = self._job(session, tenant_id, job_id)
                raise JobActionError(
                    f"job {job.id} is {job.state}, not failed; only a failed job is retried "
                    "(use run now to start it anyway)"
                )
            queued = QueuedRun(tenant_id, run.integration_id, run.id)
        self._dispatch(queued)
        return run

    def pause(self, tenant_id: int, job_id: int) -> Job:
        with transaction(self._factory) as session:
            job = jobs.pause_job(session, tenant_id, job_id)
            if job is None:
                self._job(session, tenant_id, job_id)
                raise JobActionError(f"job {job_id} is paused already")
            return job

    def resume(self, tenant_id: int, job_id: int) -> ResumeOutcome:
        with transaction(self._factory) as session:
            outcome = jobs.resume_job(session, tenant_id, job_id)
            if outcome is None:
                job = self._job(session, tenant_id, job_id)
                raise JobActionError(f"job {job.id} is {job.state}, not paused")
        if outcome.requeued is not None:
            self._dispatch(outcome.requeued)
        return outcome

    def cancel(self, tenant_id: int, run_id: int) -> CancelOutcome:
        """Cancel a run. One that an extract worker is fetching stops before its next page
        (within seconds); if no worker holds it (the worker died), it is cancelled at once."""
        with transaction(self._factory) as session:
            outcome = jobs.request_cancel(session, tenant_id, run_id)
            if outcome is None:
                run = jobs.get_run(session, tenant_id, run_id)
                if run is None:
                    raise JobNotFound(f"run {run_id} does not exist", tenant=tenant_id)
                raise JobActionError(f"run {run_id} is {run.state} already")
        if not outcome.cancelled and self.finish_cancel_if_unheld(run_id):
            return CancelOutcome(run_id, cancelled=True)
        return outcome

    def cancel_job(self, tenant_id: int, job_id: int) -> CancelOutcome:
        """Cancel the job's run in flight."""
        with self._factory() as session:
            job = self._job(session, tenant_id, job_id)
            run = jobs.get_run(session, tenant_id, job.last_run_id) if job.last_run_id else None
        if run is None or run.state not in jobs.ACTIVE_RUN_STATES:
            raise JobActionError(f"job {job_id} has no run in progress")
        return self.cancel(tenant_id, run.id)

    def finish_cancel_if_unheld(self, run_id: int) -> bool:
        """Cancel a run whose cancel was requested when no extract worker holds its lock
        (PostgreSQL only: without an engine, or on SQLite, the worker's next check does it)."""
        if self._engine is None or self._engine.dialect.name != "postgresql":
            return False
        with run_lock(self._engine, run_id) as free:
            if not free:
                return False
            with transaction(self._factory) as session:
                run_state.cancel_run(session, run_id)
            return True

    def _dispatch(self, queued: QueuedRun) -> None:
        try:
            self._dispatcher.send(queued)
        except RetriableError as exc:
            with transaction(self._factory) as session:
                run_state.fail_run(session, queued.run_id, str(exc), max_retries=self._max_retries)
            raise

    @staticmethod
    def _job(session: Session, tenant_id: int, job_id: int) -> Job:
        job = jobs.get_job(session, tenant_id, job_id)
        if job is None:
            raise JobNotFound(f"job {job_id} does not exist", tenant=tenant_id)
        return job


def _why_not_startable(session: Session, tenant_id: int, job_id: int) -> str:
    job = jobs.get_job(session, tenant_id, job_id)
    if job is None:
        raise JobNotFound(f"job {job_id} does not exist", tenant=tenant_id)
    if not job.enabled:
        return f"job {job.id} is disabled; enable it first"
    if job.state == "running":
        return f"job {job.id} is running already (run {job.last_run_id})"
    if job.state == "paused":
        return f"job {job.id} is paused; resume it first"
    if job.state == "rate_limited":
        until = job.rate_limited_until.isoformat() if job.rate_limited_until else "its reset"
        return f"job {job.id} waits for its rate limit until {until} and resumes by itself"
    return f"job {job.id} is {job.state}"
