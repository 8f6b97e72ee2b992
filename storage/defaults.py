"""The configuration a new tenant starts with. Every row is editable afterwards."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StepDefault:
    name: str
    order: int | None
    category: str
    commitment: bool = False


WORKFLOW_STEPS: tuple[StepDefault, ...] = (
    StepDefault("Backlog", 1, "to_do"),
    StepDefault("Refinement", 2, "to_do"),
    StepDefault("Ready", 3, "to_do"),
    StepDefault("To Do", 4, "to_do", commitment=True),
    StepDefault("In Progress", 5, "in_progress"),
    StepDefault("Code Review", 6, "waiting"),
    StepDefault("Testing", 7, "in_progress"),
    StepDefault("Ready for Release", 8, "waiting"),
    StepDefault("Done", 9, "done"),
    StepDefault("Discarded", None, "discarded"),
)

HIERARCHY_LEVELS: tuple[tuple[int, str, str], ...] = (
    (4, "Capital Investment", "Funding-level body of work spanning initiatives"),
    (3, "Initiative", "A goal spanning several epics"),
    (2, "Milestone", "A deliverable grouping epics"),
    (1, "Epic", "A large body of work split into stories"),
    (0, "Story", "A unit of delivered value"),
    (-1, "Sub-task", "A step of a story"),
)

# Source type name → (canonical type, hierarchy level).
TYPE_MAPPINGS: tuple[tuple[str, str, int], ...] = (
    ("Initiative", "Initiative", 3),
    ("Theme", "Initiative", 3),
    ("Milestone", "Milestone", 2),
    ("Epic", "Epic", 1),
    ("Feature", "Epic", 1),
    ("Story", "Story", 0),
    ("User Story", "Story", 0),
    ("Task", "Task", 0),
    ("Bug", "Bug", 0),
    ("Defect", "Bug", 0),
    ("Improvement", "Tech Enhancement", 0),
    ("Tech Debt", "Tech Enhancement", 0),
    ("Technical Debt", "Tech Enhancement", 0),
    ("Spike", "Spike", 0),
    ("Incident", "Incident", 0),
    ("New Feature", "Story", 0),
    ("Sub-task", "Sub-task", -1),
    ("Subtask", "Sub-task", -1),
    ("Sub-bug", "Bug", -1),
)

# ~50 status names common on Jira sites → workflow step.
STATUS_MAPPINGS: tuple[tuple[str, str], ...] = (
    ("Backlog", "Backlog"),
    ("New", "Backlog"),
    ("Open", "Backlog"),
    ("Created", "Backlog"),
    ("Funnel", "Backlog"),
    ("Idea", "Backlog"),
    ("Triage", "Backlog"),
    ("Reopened", "Backlog"),
    ("Refinement", "Refinement"),
    ("In Refinement", "Refinement"),
    ("Analysis", "Refinement"),
    ("In Analysis", "Refinement"),
    ("Grooming", "Refinement"),
    ("Design", "Refinement"),
    ("Ready", "Ready"),
    ("Ready for Development", "Ready"),
    ("Ready for Dev", "Ready"),
    ("Ready to Work", "Ready"),
    ("Selected for Development", "To Do"),
    ("To Do", "To Do"),
    ("Todo", "To Do"),
    ("Committed", "To Do"),
    ("Planned", "To Do"),
    ("In Progress", "In Progress"),
    ("In Development", "In Progress"),
    ("Development", "In Progress"),
    ("Doing", "In Progress"),
    ("Implementing", "In Progress"),
    ("Blocked", "In Progress"),
    ("Code Review", "Code Review"),
    ("In Review", "Code Review"),
    ("Review", "Code Review"),
    ("Peer Review", "Code Review"),
    ("Ready for Review", "Code Review"),
    ("Pull Request", "Code Review"),
    ("Testing", "Testing"),
    ("In Testing", "Testing"),
    ("QA", "Testing"),
    ("In QA", "Testing"),
    ("Verification", "Testing"),
    ("Ready for QA", "Testing"),
    ("Acceptance", "Testing"),
    ("Ready for Release", "Ready for Release"),
    ("Ready for Deploy", "Ready for Release"),
    ("Ready for Production", "Ready for Release"),
    ("Awaiting Release", "Ready for Release"),
    ("Done", "Done"),
    ("Closed", "Done"),
    ("Resolved", "Done"),
    ("Released", "Done"),
    ("Deployed", "Done"),
    ("Complete", "Done"),
    ("Completed", "Done"),
    ("Cancelled", "Discarded"),
    ("Canceled", "Discarded"),
    ("Rejected", "Discarded"),
    ("Won't Do", "Discarded"),
    ("Won't Fix", "Discarded"),
    ("Duplicate", "Discarded"),
    ("Discarded", "Discarded"),
)
