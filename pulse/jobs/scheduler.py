"""`pulse scheduler`: starts due jobs, and (in the one scheduler that leads) resumes
rate-limited runs, finishes cancels, checks completion, runs the watchdog and publishes progress.

Several schedulers may run at once, on several machines. Every one of them triggers due jobs:
the candidates are taken with FOR UPDATE SKIP LOCKED and each start is a conditional UPDATE, so
a job never gets two runs. The maintenance pass runs in the scheduler holding a PostgreSQL
advisory lock (`LeaderLock`), so progress events and metrics come from one place; if it dies,
another takes over within a tick.

A tick never raises: a database or broker outage is logged and the next tick tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from pulse.errors import RetriableError
from pulse.jobs.completion import CompletionPass, check_completion
from pulse.jobs.dispatch import ExtractDispatcher
from pulse.jobs.progress import ProgressEmitter, RateTracker, build_event
from pulse.jobs.service import JobService
from pulse.jobs.watchdog import stall_error, stalled
from pulse.ops.metrics import Metrics
from storage import run_state
from storage.db import transaction
from storage.heartbeats import Heartbeat
from storage.repositories.jobs import QueuedRun
from storage.scheduling import (
    LeaderLock,
    active_runs,
    resume_rate_limited,
    runs_by_id,
    trigger_due_jobs,
)
from storage.schema import JobRun, utcnow

log = logging.getLogger(__name__)

_STAGE_COUNTS = {
    "extract": "extracted",
    "transform": "transformed",
    "load": "loaded",
    "vectorize": "vectorized",
}


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    tick: timedelta = timedelta(milliseconds=500)
    stall: timedelta = timedelta(minutes=30)
    max_retries: int = 3


@dataclass(slots=True)
class TickReport:
    leader: bool = False
    triggered: list[int] = field(default_factory=list)
    resumed: list[int] = field(default_factory=list)
    finished: list[int] = field(default_factory=list)
    stalled: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)


class Scheduler:
    def __init__(
        self,
        engine: Engine,
        factory: sessionmaker[Session],
        dispatcher: ExtractDispatcher,
        config: SchedulerConfig,
        *,
        progress: ProgressEmitter | None = None,
        metrics: Metrics | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self._factory = factory
        self._dispatcher = dispatcher
        self._config = config
        self._progress = progress
        self._metrics = metrics
        self._heartbeat = heartbeat
        self._lock = LeaderLock(engine)
        self._jobs = JobService(factory, dispatcher, max_retries=config.max_retries, engine=engine)
        self._rates = RateTracker()
        self._tracked: set[int] = set()
        self._rate_limited: set[int] = set()
        self._seen_counts: dict[int, dict[str, int]] = {}
        self._published = 0  # progress events already counted in the metrics
        self.last_tick_at: float | None = None  # monotonic time of the last tick that succeeded

    # -- the loop -------------------------------------------------------------------------

    def serve(self, stop: threading.Event) -> None:
        """Tick until `stop` is set; the current tick always completes (graceful stop)."""
        log.info("scheduler running, tick %.2f s", self._config.tick.total_seconds())
        try:
            while not stop.is_set():
                started = time.monotonic()
                self.tick_safely()
                stop.wait(max(self._config.tick.total_seconds() - (time.monotonic() - started), 0))
        finally:
            self.close()
            log.info("scheduler stopped")

    def tick_safely(self) -> TickReport | None:
        started = time.monotonic()
        try:
            report = self.tick()
        except Exception:
            log.exception("scheduler tick failed; retrying next tick")
            return None
        self.last_tick_at = time.monotonic()
        if self._metrics is not None:
            self._metrics.tick_seconds.observe(self.last_tick_at - started)
        self._beat(leader=report.leader)
        return report

    def close(self) -> None:
        self._lock.release()
        self._dispatcher.close()

    # -- one tick -------------------------------------------------------------------------

    def tick(self) -> TickReport:
        report = TickReport()
        now = utcnow()
        with transaction(self._factory) as session:
            triggered = trigger_due_jobs(session, now)
        for item in triggered:
            log.info("job run %s (%s) started by the schedule", item.run.run_id, item.kind)
            self._send(item.run)
        report.triggered = [t.run.run_id for t in triggered]
        report.leader = self._lock.acquire()
        if not report.leader:
            return report
        with transaction(self._factory) as session:
            resumed = resume_rate_limited(session, now)
        for queued in resumed:
            log.info("run %s resumes after its rate-limit wait", queued.run_id)
            self._send(queued)
        report.resumed = [r.run_id for r in resumed]
        completion = self._maintain(now, report)
        self._publish(completion)
        return report

    def _maintain(self, now: datetime, report: TickReport) -> CompletionPass:
        """Completion check and watchdog in one transaction; then cancels nobody finishes."""
        with transaction(self._factory) as session:
            runs = active_runs(session)
            completion = check_completion(session, runs, now)
            report.finished = completion.finished
            for run in runs:
                if run.id in completion.finished or not stalled(run, now, self._config.stall):
                    continue
                session.refresh(run, with_for_update=True)  # the worker may just have moved it
                if not stalled(run, now, self._config.stall):
                    continue
                error = stall_error(run, now, completion.assessments.get(run.id))
                log.warning("watchdog: %s", error)
                run_state.fail_run(session, run.id, error, max_retries=self._config.max_retries)
                report.stalled.append(run.id)
                self._count_error(run.stage or "extract", "stalled")
            orphans = [
                run.id
                for run in runs
                if run.state == "running"
                and run.stage in (None, "extract")
                and run.cancel_requested_at is not None
                and run.id not in report.stalled
            ]
        for run_id in orphans:  # a cancel whose worker is gone would otherwise wait forever
            if self._jobs.finish_cancel_if_unheld(run_id):
                report.cancelled.append(run_id)
        return completion

    def _send(self, queued: QueuedRun) -> None:
        try:
            self._dispatcher.send(queued)
        except RetriableError as exc:
            log.error("%s", exc)
            self._count_error("dispatch", "retriable")
            with transaction(self._factory) as session:
                run_state.fail_run(
                    session, queued.run_id, str(exc), max_retries=self._config.max_retries
                )

    # -- progress and metrics --------------------------------------------------------------

    def _publish(self, completion: CompletionPass) -> None:
        """Events for every run in flight and every run that ended since the last tick,
        read after the maintenance commit (so an event never shows uncommitted counts)."""
        with self._factory() as session:
            runs = active_runs(session)
            active = {run.id for run in runs}
            runs += runs_by_id(session, sorted(self._tracked - active))
        for run in runs:
            self._observe(run)
            if self._progress is not None:
                self._progress.offer(
                    build_event(run, counts=completion.counts.get(run.id), rates=self._rates)
                )
        if self._progress is not None:
            self._progress.flush_due()
            if self._metrics is not None:
                self._metrics.progress_events.inc(self._progress.sent - self._published)
                self._published = self._progress.sent
        for run_id in self._tracked - active:
            self._rates.forget(run_id)
            self._seen_counts.pop(run_id, None)
            self._rate_limited.discard(run_id)
        self._tracked = active
        if self._metrics is not None:
            self._count_states(runs, active)

    def _observe(self, run: JobRun) -> None:
        """Metrics from what this run's counts and state did since the last tick."""
        if self._metrics is None:
            return
        counts = {stage: getattr(run, column) for stage, column in _STAGE_COUNTS.items()}
        before = self._seen_counts.get(run.id)
        if before is not None:
            for stage, count in counts.items():
                if count > before[stage]:
                    self._metrics.records.labels(stage).inc(count - before[stage])
        self._seen_counts[run.id] = counts
        if run.state == "rate_limited" and run.id not in self._rate_limited:
            self._rate_limited.add(run.id)
            if run.rate_limited_until is not None:
                wait = (run.rate_limited_until - utcnow()).total_seconds()
                self._metrics.rate_limit_wait.observe(max(wait, 0.0))
        elif run.state != "rate_limited":
            self._rate_limited.discard(run.id)
        if run.state in run_state.TERMINAL_RUN_STATES and run.id in self._tracked:
            start = run.started_at or run.created_at
            if run.finished_at is not None:
                self._metrics.run_duration.labels(run.kind, run.state).observe(
                    max((run.finished_at - start).total_seconds(), 0.0)
                )

    def _count_states(self, runs: Sequence[JobRun], active: set[int]) -> None:
        assert self._metrics is not None
        by_state: dict[str, int] = dict.fromkeys(("queued", "running", "rate_limited", "paused"), 0)
        for run in runs:
            if run.id in active:
                by_state[run.state] = by_state.get(run.state, 0) + 1
        for state, count in by_state.items():
            self._metrics.runs.labels(state).set(count)

    def _count_error(self, stage: str, kind: str) -> None:
        if self._metrics is not None:
            self._metrics.errors.labels(stage, kind).inc()

    def _beat(self, *, leader: bool) -> None:
        if self._heartbeat is None:
            return
        try:
            self._heartbeat.beat(leader=leader, tracked_runs=len(self._tracked))
        except Exception:  # liveness reporting must never stop the scheduling
            log.warning("scheduler heartbeat failed", exc_info=True)
