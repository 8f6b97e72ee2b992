"""Job actions as the web UI and the JSON API call them: run now, pause, resume, cancel, retry.

The seam between the web and the jobs service (`pulse.jobs.JobService`, which the CLI uses
too): each action is the service's own transaction around an atomic flip, followed by the
extract request after commit. A refusal comes back as `JobActionRefused` with the service's
reason (409 in the UI), another tenant's job as `LookupError` (404).

`allowed` decides which buttons a card offers, mirroring the service's rules, so the buttons
and the server agree; the server stays the authority either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from pulse.errors import RetriableError
from pulse.jobs import ExtractDispatcher, JobActionError, JobNotFound, JobService
from pulse.settings import Settings
from storage.repositories import jobs
from storage.repositories.job_board import JobCard
from storage.schema import JobRun

ACTIONS = ("run", "pause", "resume", "cancel", "retry")


class JobActionRefused(Exception):
    """The action does not apply to the job in its current state; the message says why."""


@dataclass(frozen=True, slots=True)
class ActionResult:
    message: str
    run: JobRun | None = None


def allowed(card: JobCard) -> frozenset[str]:
    """The actions that make sense for this job right now."""
    job, active = card.job, card.active_run
    found: set[str] = set()
    if active is not None:
        found.add("cancel")
    if job.state == "paused":
        found.add("resume")
    else:
        found.add("pause")
        if active is None and job.enabled and card.integration.enabled:
            if job.state in jobs.STARTABLE:
                found.add("run")
            if job.state == "failed":
                found.add("retry")
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class JobActions:
    settings: Settings
    factory: sessionmaker[Session]
    engine: Engine

    def perform(self, tenant_id: int, job_id: int, action: str) -> ActionResult:
        """Run one action in its own transaction (committed when this returns)."""
        with ExtractDispatcher(self.settings.rabbitmq_url, name="web") as dispatcher:
            service = JobService(
                self.factory,
                dispatcher,
                max_retries=self.settings.etl_max_retries,
                engine=self.engine,
            )
            try:
                return self._perform(service, tenant_id, job_id, action)
            except JobNotFound as exc:
                raise LookupError(exc.message) from exc
            except JobActionError as exc:
                raise JobActionRefused(exc.message) from exc
            except RetriableError as exc:  # the broker did not take the request
                raise JobActionRefused(f"{exc.message}; the run failed with this reason") from exc

    @staticmethod
    def _perform(service: JobService, tenant_id: int, job_id: int, action: str) -> ActionResult:
        if action == "run":
            run = service.run_now(tenant_id, job_id)
            return ActionResult(f"Run {run.id} queued.", run)
        if action == "retry":
            run = service.retry(tenant_id, job_id)
            return ActionResult(f"Retrying: run {run.id} queued.", run)
        if action == "pause":
            service.pause(tenant_id, job_id)
            return ActionResult(
                "Paused: nothing new starts until you resume; a run still extracting pauses "
                "before its next page and keeps its checkpoints."
            )
        if action == "resume":
            outcome = service.resume(tenant_id, job_id)
            if outcome.requeued is not None:
                return ActionResult(f"Resumed: run {outcome.requeued.run_id} continues.")
            return ActionResult("Resumed: it runs at its next scheduled time.")
        if action == "cancel":
            cancelled = service.cancel_job(tenant_id, job_id)
            if cancelled.cancelled:
                return ActionResult(f"Run {cancelled.run_id} cancelled.")
            return ActionResult(f"Cancel requested: run {cancelled.run_id} stops within seconds.")
        raise ValueError(f"unknown job action {action!r}")
