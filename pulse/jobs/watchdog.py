"""The watchdog: a run that makes no progress for `ETL_STALL_SECONDS` fails, with an error that
says which stage stalled and what it was waiting for, so a run never hangs silently.

"Progress" is the run's `heartbeat_at`: set when it is queued, when a worker claims it, on every
committed extract page, and by the completion check whenever a later stage's count moves. A
rate-limited or paused run is waiting on purpose and is left alone. The failed run then follows
the job's retry policy (`run_state.fail_run`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pulse.jobs.completion import Assessment
from storage.schema import JobRun

WATCHED_STATES = ("queued", "running")


def last_progress(run: JobRun) -> datetime:
    return run.heartbeat_at or run.started_at or run.created_at


def stalled(run: JobRun, now: datetime, stall: timedelta) -> bool:
    return run.state in WATCHED_STATES and now - last_progress(run) > stall


def stall_error(run: JobRun, now: datetime, assessment: Assessment | None = None) -> str:
    idle = int((now - last_progress(run)).total_seconds())
    if run.state == "queued":
        return (
            f"run {run.id} stalled in the queue: no extract worker took it for {idle} s "
            "(is `pulse extract` running and connected to RabbitMQ?)"
        )
    stage = run.stage or "extract"
    if stage == "extract":
        return (
            f"run {run.id} stalled in stage 'extract': no page committed for {idle} s "
            f"({run.extracted} records so far)"
        )
    waiting = f": {assessment.waiting_for}" if assessment is not None else ""
    dead = f"; {run.failed} dead letters for this run" if run.failed else ""
    return f"run {run.id} stalled in stage {stage!r}: no progress for {idle} s{waiting}{dead}"
