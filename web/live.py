"""The numbers of a job card's live panel: each stage's done/total, the current stage's records
per second and ETA, and a rate-limit wait.

The `job_runs` row is the truth and is read on every render; a progress event that just
arrived for the same run adds what a row cannot know (the current rate, hence the ETA) and may
be a moment ahead of the row it will be written to. Stage totals follow the jobs service's own
definition (`pulse.jobs.stage_progress`), so the CLI bars and the web agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pulse.jobs import ProgressEvent, StageProgress, stage_progress
from storage.schema import JobRun

STAGE_LABELS = (
    ("extract", "Extracted"),
    ("transform", "Transformed"),
    ("load", "Loaded"),
    ("vectorize", "Vectorized"),
)


@dataclass(frozen=True, slots=True)
class LiveStats:
    state: str
    stage: str | None
    stages: dict[str, StageProgress]
    failed: int
    percent: float | None  # of the current stage, when its total is known
    rate: float | None  # records per second in the current stage
    eta_seconds: float | None  # only when the current stage's total is known
    elapsed_seconds: float | None
    rate_limited_until: datetime | None
    error: str | None


def live_stats(run: JobRun, now: datetime, event: ProgressEvent | None = None) -> LiveStats:
    stages = stage_progress(run)
    state, stage = run.state, run.stage
    rate = eta = None
    limited = run.rate_limited_until if run.state == "rate_limited" else None
    if event is not None and event.job_run_id == run.id:
        rate, eta = event.rate, event.eta_seconds
        # The event may be ahead of the row (read after a later commit): take the later view.
        if sum(p.done for p in event.stages.values()) >= sum(p.done for p in stages.values()):
            stages, state, stage = dict(event.stages), event.state, event.stage
            limited = event.rate_limited_until
    elapsed = (now - run.started_at).total_seconds() if run.started_at else None
    current = stages.get("transform" if stage == "load" else stage or "extract")
    percent = None
    if current is not None and current.total:
        percent = min(100.0, 100.0 * current.done / current.total)
        if rate is None and stage in (None, "extract") and elapsed and current.done:
            rate = current.done / elapsed  # the run's average until an event brings a rate
        if eta is None and rate:
            eta = max(current.total - current.done, 0) / rate
    return LiveStats(
        state=state,
        stage=stage,
        stages=stages,
        failed=int(run.failed or 0),
        percent=percent,
        rate=rate,
        eta_seconds=eta,
        elapsed_seconds=elapsed,
        rate_limited_until=limited,
        error=run.error,
    )
