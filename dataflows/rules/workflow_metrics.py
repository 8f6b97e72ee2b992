"""Workflow metrics of one work item from its full status history and the tenant's workflow
(ARCHITECTURE §5). Always computed from the whole timeline, never from a run's new changes.

The timeline is a sequence of *entries* into statuses: creation (into the status the item was
created in) and then every transition. Steps and categories come from the configured status
mappings and workflow, never from Jira's native status category.

Definitions:
- committed_at: the first entry into a step at or after the commitment step in step order.
  Creation counts as an entry, so an item created at or after the commitment point is
  committed at creation. No commitment step configured: never committed.
- a *start* is an entry into an in_progress step from a step that is neither in_progress nor
  waiting (active → waiting → active is one start); creation into an in_progress step is a
  start. first/last_started_at are the first and the latest.
- a *completion* is an entry into a done step from a step that is not done (creation into a
  done step is one). Entering a discarded step is never a completion. A reopened item that is
  completed again has its latest completion as last_completed_at.
- a *backlog return* is a move from a step at or after the commitment step to a step before it
  (steps without an order, such as Discarded, are neither).
- Unmapped statuses are transparent: entering one is nothing, and the next entry is judged
  against the last *mapped* step before it (In Progress → ?? → In Progress is still one start).
  Their time goes to unmapped_status_seconds only.
- Time is attributed to the status being left. work_seconds = time in in_progress steps,
  waiting_seconds = time in waiting steps, step_seconds = time per step name (every mapped
  step visited, all categories).
- The current, still open interval counts only up to `as_of` when given (the Jira rule passes
  the item's resolution time, so an open item's current stint is left to the reader, who knows
  "now"); the stored figures therefore never depend on when the transform ran.
- cycle_seconds = last completion - first start; lead_seconds = last completion - committed;
  None when either end is missing or the start/commitment came after the last completion
  (started again after being done and not yet re-completed).
- rework: more than one start. direct_completion: completed at least once, never started
  (a to_do → done jump, or an item created done).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dataflows.rules._payload import whole_seconds
from dataflows.rules.transitions import Transition
from pulse.tenant_config import WorkflowStep

__all__ = ["WorkflowMetrics", "compute_workflow_metrics"]

_ACTIVE = frozenset({"in_progress", "waiting"})


@dataclass(frozen=True, slots=True)
class WorkflowMetrics:
    committed_at: datetime | None = None
    first_started_at: datetime | None = None
    last_started_at: datetime | None = None
    first_completed_at: datetime | None = None
    last_completed_at: datetime | None = None
    start_count: int = 0
    completion_count: int = 0
    backlog_return_count: int = 0
    work_seconds: int = 0
    waiting_seconds: int = 0
    cycle_seconds: int | None = None
    lead_seconds: int | None = None
    rework: bool = False
    direct_completion: bool = False
    unmapped_status_seconds: int = 0
    step_seconds: dict[str, int] = field(default_factory=dict)

    def columns(self) -> dict[str, Any]:
        """The `work_items` metric columns."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _span(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None or start > end:
        return None
    return whole_seconds(start, end)


def compute_workflow_metrics(
    transitions: Sequence[Transition],
    *,
    created_at: datetime,
    initial_step: WorkflowStep | None,
    commitment: WorkflowStep | None,
    as_of: datetime | None = None,
) -> WorkflowMetrics:
    """Metrics from the item's transitions (oldest first, as `status_transitions` returns
    them). `initial_step` is the step of the status the item was created in: the first
    transition's from step, or the current step when there are no transitions."""
    commit_order = commitment.order if commitment is not None else None

    def at_or_after_commitment(step: WorkflowStep) -> bool:
        return commit_order is not None and step.order is not None and step.order >= commit_order

    def before_commitment(step: WorkflowStep) -> bool:
        return commit_order is not None and step.order is not None and step.order < commit_order

    entries: list[tuple[WorkflowStep | None, datetime]] = [(initial_step, created_at)]
    entries += [(t.to_step, t.transitioned_at) for t in transitions]

    committed: datetime | None = None
    starts: list[datetime] = []
    completions: list[datetime] = []
    returns = 0
    previous: WorkflowStep | None = None  # the last mapped step entered
    for step, when in entries:
        if step is None:
            continue
        if committed is None and at_or_after_commitment(step):
            committed = when
        was_active = previous is not None and previous.category in _ACTIVE
        if step.category == "in_progress" and not was_active:
            starts.append(when)
        if step.category == "done" and (previous is None or previous.category != "done"):
            completions.append(when)
        if previous is not None and at_or_after_commitment(previous) and before_commitment(step):
            returns += 1
        previous = step

    # Closed intervals from the transitions, then the open one up to as_of.
    intervals = [(t.from_step, t.seconds_in_from_status) for t in transitions]
    last_entry_step, last_entry_at = entries[-1]
    if as_of is not None:
        intervals.append((last_entry_step, whole_seconds(last_entry_at, as_of)))
    work = waiting = unmapped = 0
    per_step: dict[str, int] = {}
    for step, seconds in intervals:
        if step is None:
            unmapped += seconds
            continue
        per_step[step.name] = per_step.get(step.name, 0) + seconds
        if step.category == "in_progress":
            work += seconds
        elif step.category == "waiting":
            waiting += seconds

    first_start = starts[0] if starts else None
    last_completion = completions[-1] if completions else None
    return WorkflowMetrics(
        committed_at=committed,
        first_started_at=first_start,
        last_started_at=starts[-1] if starts else None,
        first_completed_at=completions[0] if completions else None,
        last_completed_at=last_completion,
        start_count=len(starts),
        completion_count=len(completions),
        backlog_return_count=returns,
        work_seconds=work,
        waiting_seconds=waiting,
        cycle_seconds=_span(first_start, last_completion),
        lead_seconds=_span(committed, last_completion),
        rework=len(starts) > 1,
        direct_completion=bool(completions) and not starts,
        unmapped_status_seconds=unmapped,
        step_seconds=per_step,
    )
