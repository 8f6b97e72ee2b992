from __future__ import annotations

from typing import Any

import pytest

from dataflows.rules import ENTITIES, RecordError, transform_record
from pulse.errors import ErrorKind, PulseError

from .helpers import CONFIG, GITHUB, JIRA, issue, moves
from .test_github_pr import pr

ISSUE_VERSION = "2024-03-01T09:00:00.000+00:00"
ISSUE_MICROS = 1_709_283_600_000_000


def run(entity: str, payload: Any, version: str | int = ISSUE_VERSION, **kw: Any):
    args: dict[str, Any] = {
        "raw_id": 321,
        "external_id": "10001",
        "config": CONFIG,
        "integration_id": JIRA,
        "job_run_id": 5,
    }
    args.update(kw)
    return transform_record(entity, version=version, payload=payload, **args)


def test_issue_rows_by_table_and_unmapped_names() -> None:
    payload = issue(
        histories=moves((1, "QUESTION"), (2, "Done")),
        issuetype="Test Execution",
        customfield_10020=[{"id": 7, "name": "S7", "state": "closed", "boardId": 1}],
    )
    out = run("jira.issue", payload)
    assert set(out.rows) == {"work_items", "work_item_transitions", "sprints", "work_item_sprints"}
    (item,) = out.rows["work_items"]
    assert (item["version"], item["raw_id"], item["last_job_run_id"]) == (ISSUE_MICROS, 321, 5)
    assert out.rows["sprints"][0]["version"] == 321  # untimestamped: the raw id
    assert len(out.rows["work_item_transitions"]) == 2
    assert (out.unmapped_types, out.unmapped_statuses) == ({"Test Execution"}, {"QUESTION"})


def test_issue_without_status_changes_has_no_transition_rows() -> None:
    out = run("jira.issue", issue())
    assert set(out.rows) == {"work_items"}


def test_every_entity_lands_in_its_table() -> None:
    catalog: dict[str, tuple[dict[str, Any], set[str]]] = {
        "jira.field": ({"id": "summary", "name": "Summary"}, {"custom_fields"}),
        "jira.project": ({"id": "1", "key": "PUL", "name": "Pulse"}, {"projects"}),
        "jira.issue_type": ({"id": "1", "name": "Story"}, {"work_item_types"}),
        "jira.status": ({"id": "1", "name": "Done"}, {"statuses"}),
        "jira.board": ({"id": 3, "name": "PUL board", "type": "scrum"}, set()),
        "jira.sprint": ({"id": 7, "name": "S7", "state": "active"}, {"sprints"}),
        "jira.dev_status": (
            {
                "issueId": "1",
                "detail": [{"pullRequests": [{"url": "https://github.com/a/b/pull/1"}]}],
            },
            {"work_item_pr_links"},
        ),
        "github.repository": (
            {"id": "R_1", "nameWithOwner": "acme/api", "updatedAt": "2024-01-01T00:00:00Z"},
            {"repositories"},
        ),
    }
    for entity, (payload, tables) in catalog.items():
        out = run(entity, payload, version="2024-05-01T00:00:00.000+00:00")
        assert set(out.rows) == tables, entity
        for rows in out.rows.values():
            expected = 321 if entity.startswith("jira.") else 1_714_521_600_000_000
            assert {r["version"] for r in rows} == {expected}, entity
    pr_out = run("github.pull_request", pr(), integration_id=GITHUB)
    assert set(pr_out.rows) == {
        "pull_requests",
        "pr_commits",
        "pr_reviews",
        "pr_comments",
        "work_item_pr_links",
    }
    assert {*catalog, "jira.issue", "github.pull_request"} == ENTITIES


def test_unmapped_catalog_names_are_reported() -> None:
    assert run("jira.status", {"id": "1", "name": "QUESTION"}).unmapped_statuses == {"QUESTION"}
    assert run("jira.status", {"id": "1", "name": "Done"}).unmapped_statuses == frozenset()
    assert run("jira.issue_type", {"id": "1", "name": "Odd"}).unmapped_types == {"Odd"}


def test_integer_versions_are_taken_as_converted() -> None:
    out = run("jira.issue", issue(), version=ISSUE_MICROS + 1)
    assert out.rows["work_items"][0]["version"] == ISSUE_MICROS + 1


@pytest.mark.parametrize(
    ("entity", "payload", "version", "message"),
    [
        ("jira.worklog", {}, ISSUE_VERSION, r"jira\.worklog record '10001': entity is not"),
        ("jira.issue", [1, 2], ISSUE_VERSION, r"payload is not a JSON object"),
        ("jira.issue", issue(), "last tuesday", r"version is invalid"),
        ("jira.issue", {"id": "10001"}, ISSUE_VERSION, r"key is missing"),
        ("jira.project", {"id": "1", "key": "P"}, ISSUE_VERSION, r"jira\.project .* name is"),
    ],
)
def test_record_errors_name_entity_id_and_field(
    entity: str, payload: Any, version: str, message: str
) -> None:
    with pytest.raises(RecordError, match=message) as caught:
        run(entity, payload, version=version)
    error = caught.value
    assert isinstance(error, PulseError)
    assert error.kind is ErrorKind.SKIPPABLE
    assert error.context["entity"] == entity
    assert error.context["external_id"] == "10001"


def test_an_unanticipated_payload_shape_is_a_record_error_with_its_cause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dataflows.rules as rules

    def broken(*_: Any) -> Any:
        return {}["name"]  # what a rule bug or an unforeseen shape looks like

    monkeypatch.setattr(rules, "map_project", broken)
    with pytest.raises(RecordError, match=r"payload could not be transformed: KeyError") as caught:
        run("jira.project", {"id": "1"})
    assert isinstance(caught.value.__cause__, KeyError)
