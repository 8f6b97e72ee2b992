"""Jobs: the actions admins take (run now, retry, pause, resume, cancel), the scheduler that
starts due jobs and watches runs to their end, and the progress events the UI shows live.

The CLI and the web use `JobService` alike; `pulse scheduler` runs `Scheduler`; stage
processes may publish progress right after their commits with `ProgressReporter`; the web
subscribes with `ProgressFeed`.
"""

from pulse.jobs.completion import Assessment, assess, check_completion
from pulse.jobs.dispatch import ExtractDispatcher
from pulse.jobs.progress import (
    ProgressEmitter,
    ProgressEvent,
    ProgressFeed,
    ProgressReporter,
    RateTracker,
    StageProgress,
    build_event,
    stage_progress,
)
from pulse.jobs.scheduler import Scheduler, SchedulerConfig, TickReport
from pulse.jobs.service import JobActionError, JobNotFound, JobService

__all__ = [
    "Assessment",
    "ExtractDispatcher",
    "JobActionError",
    "JobNotFound",
    "JobService",
    "ProgressEmitter",
    "ProgressEvent",
    "ProgressFeed",
    "ProgressReporter",
    "RateTracker",
    "Scheduler",
    "SchedulerConfig",
    "StageProgress",
    "TickReport",
    "assess",
    "build_event",
    "check_completion",
    "stage_progress",
]
