from __future__ import annotations

from datetime import datetime

from dataflows.rules import WorkflowMetrics, compute_workflow_metrics, status_transitions
from pulse.tenant_config import TenantConfig, WorkflowStep

from .helpers import CONFIG, STEPS, at, make_config, meta, moves

H = 3600


def metrics(
    *path: tuple[float, str],
    start: str = "To Do",
    created: float = 0,
    as_of: datetime | None = None,
    config: TenantConfig = CONFIG,
) -> WorkflowMetrics:
    transitions = status_transitions(
        moves(*path, start=start), created_at=at(created), config=config, meta=meta()
    )
    initial = transitions[0].from_step if transitions else config.resolve_status(None, start)
    return compute_workflow_metrics(
        transitions,
        created_at=at(created),
        initial_step=initial,
        commitment=config.commitment_step(None),
        as_of=as_of,
    )


def test_full_flow() -> None:
    m = metrics(
        (1, "To Do"),
        (2, "In Progress"),
        (5, "Code Review"),
        (6, "Testing"),
        (8, "Done"),
        start="Backlog",
    )
    assert m.committed_at == at(1)
    assert (m.start_count, m.first_started_at, m.last_started_at) == (1, at(2), at(2))
    assert (m.completion_count, m.first_completed_at, m.last_completed_at) == (1, at(8), at(8))
    assert (m.work_seconds, m.waiting_seconds) == (5 * H, 1 * H)
    assert (m.cycle_seconds, m.lead_seconds) == (6 * H, 7 * H)
    assert m.step_seconds == {
        "Backlog": H,
        "To Do": H,
        "In Progress": 3 * H,
        "Code Review": H,
        "Testing": 2 * H,
    }
    assert not m.rework
    assert not m.direct_completion
    assert m.backlog_return_count == 0


def test_time_goes_to_the_status_left_not_the_target() -> None:
    # Ten hours waiting in To Do, one hour of work: the original system booked it the other way.
    m = metrics((10, "In Progress"), (11, "Done"))
    assert m.work_seconds == H
    assert m.step_seconds["To Do"] == 10 * H


def test_active_waiting_active_is_one_start() -> None:
    m = metrics((1, "In Progress"), (2, "Code Review"), (3, "In Progress"), (4, "Done"))
    assert m.start_count == 1
    assert not m.rework


def test_statuses_sharing_a_step_are_not_new_starts() -> None:
    m = metrics((1, "In Progress"), (2, "In Development"), (3, "开发中"))
    assert m.start_count == 1


def test_going_back_to_to_do_and_restarting_is_rework() -> None:
    m = metrics((1, "In Progress"), (2, "To Do"), (3, "In Progress"), (4, "Done"))
    assert (m.start_count, m.first_started_at, m.last_started_at) == (2, at(1), at(3))
    assert m.rework


def test_reopened_item_counts_each_completion_and_keeps_the_latest() -> None:
    m = metrics((1, "In Progress"), (2, "Done"), (5, "In Progress"), (7, "Closed"), (8, "已完成"))
    assert (m.completion_count, m.first_completed_at, m.last_completed_at) == (2, at(2), at(7))
    assert m.start_count == 2
    assert m.rework
    assert m.cycle_seconds == 6 * H  # last completion - first start


def test_started_again_after_completion_has_no_cycle_time() -> None:
    m = metrics((1, "Done"), (2, "In Progress"))
    assert m.last_completed_at == at(1)
    assert m.first_started_at == at(2)
    assert m.cycle_seconds is None
    assert m.lead_seconds == H  # committed at creation (To Do), completed at 1h


def test_backlog_returns() -> None:
    m = metrics(
        (1, "In Progress"),
        (2, "Backlog"),  # from after the commitment point to before it
        (3, "Refinement"),  # before → before: no
        (4, "To Do"),
        (5, "Open"),  # the commitment step itself → before it
        (6, "Discarded"),  # no order: not "before"
    )
    assert m.backlog_return_count == 2


def test_direct_completion_from_to_do() -> None:
    m = metrics((3, "Done"))
    assert m.direct_completion
    assert (m.start_count, m.completion_count) == (0, 1)
    assert m.cycle_seconds is None
    assert m.lead_seconds == 3 * H


def test_item_created_in_a_done_step_is_completed_at_creation() -> None:
    m = metrics(start="Done", created=2)
    assert (m.completion_count, m.first_completed_at) == (1, at(2))
    assert m.direct_completion
    assert m.committed_at == at(2)


def test_item_created_in_progress_is_started_at_creation() -> None:
    m = metrics((4, "Done"), start="In Progress")
    assert (m.start_count, m.first_started_at) == (1, at(0))
    assert m.cycle_seconds == 4 * H


def test_status_at_creation_at_or_after_commitment_is_committed_at_creation() -> None:
    assert metrics(start="To Do", created=1).committed_at == at(1)
    assert metrics(start="Backlog").committed_at is None
    assert metrics((2, "Ready"), (3, "Code Review"), start="Backlog").committed_at == at(3)


def test_discarded_item_has_no_completion() -> None:
    m = metrics((1, "In Progress"), (2, "Discarded"))
    assert (m.completion_count, m.last_completed_at, m.cycle_seconds) == (0, None, None)
    assert not m.direct_completion
    assert m.step_seconds == {"To Do": H, "In Progress": H}


def test_unmapped_statuses_are_transparent_and_their_time_is_reported_apart() -> None:
    m = metrics(
        (1, "In Progress"),
        (3, "Blocked / On Hold"),  # unmapped
        (7, "In Progress"),
        (8, "QUESTION"),  # unmapped
        (9, "Done"),
    )
    assert m.start_count == 1  # In Progress → ?? → In Progress is one start
    assert m.completion_count == 1  # ?? → Done is judged against In Progress
    assert m.unmapped_status_seconds == 5 * H
    assert m.work_seconds == 3 * H
    assert set(m.step_seconds) == {"To Do", "In Progress"}


def test_created_in_an_unmapped_status() -> None:
    m = metrics((1, "To Do"), (2, "In Progress"), start="Triage-ish")
    assert m.unmapped_status_seconds == H
    assert m.committed_at == at(1)
    assert m.start_count == 1


def test_open_interval_counts_only_up_to_as_of() -> None:
    closed_only = metrics((1, "In Progress"))
    assert closed_only.work_seconds == 0
    assert closed_only.step_seconds == {"To Do": H}
    upto = metrics((1, "In Progress"), as_of=at(4))
    assert upto.work_seconds == 3 * H
    assert upto.step_seconds == {"To Do": H, "In Progress": 3 * H}
    before_last_change = metrics((1, "In Progress"), as_of=at(0.5))
    assert before_last_change.work_seconds == 0
    no_changes = metrics(start="Code Review", as_of=at(2))
    assert no_changes.waiting_seconds == 2 * H


def test_commitment_point_comes_from_the_configuration() -> None:
    late = tuple(WorkflowStep(s.name, s.order, s.category, s.name == "In Progress") for s in STEPS)
    config = make_config(steps=late)
    m = metrics((1, "To Do"), (2, "In Progress"), (3, "To Do"), config=config)
    assert m.committed_at == at(2)
    assert m.backlog_return_count == 1  # In Progress → To Do is now a return


def test_a_status_named_to_do_is_not_special() -> None:
    config = make_config(statuses={"To Do": "Backlog", "Doing": "In Progress", "Shipped": "Done"})
    m = metrics((1, "Doing"), (2, "Shipped"), config=config)
    assert m.committed_at == at(1)  # entering In Progress, not the status named "To Do"


def test_no_commitment_step_configured() -> None:
    plain = tuple(WorkflowStep(s.name, s.order, s.category) for s in STEPS)
    m = metrics((1, "In Progress"), (2, "Backlog"), (3, "Done"), config=make_config(steps=plain))
    assert (m.committed_at, m.lead_seconds, m.backlog_return_count) == (None, None, 0)
    assert m.completion_count == 1


def test_columns_are_the_work_item_metric_columns() -> None:
    assert set(metrics().columns()) == {
        "committed_at",
        "first_started_at",
        "last_started_at",
        "first_completed_at",
        "last_completed_at",
        "start_count",
        "completion_count",
        "backlog_return_count",
        "work_seconds",
        "waiting_seconds",
        "cycle_seconds",
        "lead_seconds",
        "rework",
        "direct_completion",
        "unmapped_status_seconds",
        "step_seconds",
    }
