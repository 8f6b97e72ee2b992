from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dataflows.rules import (
    RecordError,
    map_field,
    map_issue_type,
    map_project,
    map_repository,
    map_sprint,
    map_status,
)
from storage.schema import CustomField, Project, Repository, Sprint, Status, WorkItemType

from .helpers import CONFIG, GITHUB, meta


def columns(table: Any) -> set[str]:
    return {c.name for c in table.__table__.columns} - {"id", "created_at", "updated_at"}


def test_project() -> None:
    payload = {"id": "10000", "key": "PUL", "name": "Pulse", "projectTypeKey": "software"}
    row = map_project(payload, CONFIG, meta("jira.project", "10000", raw_id=44, version=44))
    assert set(row) == columns(Project)
    assert (row["external_id"], row["key"], row["name"], row["project_type"]) == (
        "10000",
        "PUL",
        "Pulse",
        "software",
    )
    assert (row["raw_id"], row["version"], row["config_version"]) == (44, 44, 7)


def test_issue_types_mapped_and_unmapped() -> None:
    story = {"id": "10001", "name": "故事", "subtask": False, "hierarchyLevel": 0}
    row = map_issue_type(story, CONFIG, meta("jira.issue_type", "10001"))
    assert set(row) == columns(WorkItemType)
    assert (row["canonical_type"], row["hierarchy_level"], row["source_hierarchy_level"]) == (
        "Story",
        0,
        0,
    )
    other = {"id": "10105", "name": "Test Execution", "subtask": True, "hierarchyLevel": "-1"}
    row = map_issue_type(other, CONFIG, meta("jira.issue_type", "10105"))
    assert (row["canonical_type"], row["hierarchy_level"], row["subtask"]) == (None, None, True)
    assert row["source_hierarchy_level"] == -1


def test_status_from_a_project_status_listing() -> None:
    payload = {
        "id": "10133",
        "name": "处理中",
        "description": "",
        "statusCategory": {"id": 4, "key": "indeterminate", "name": "In Progress"},
        "projectKey": "PUL",
        "issueTypeIds": ["10001"],
    }
    row = map_status(payload, CONFIG, meta("jira.status", "PUL:10133"))
    assert set(row) == columns(Status)
    assert row["external_id"] == "10133"  # the status id, not the record's project:id
    assert (row["category_key"], row["category_name"], row["project_keys"]) == (
        "indeterminate",
        "In Progress",
        ["PUL"],
    )
    assert (row["workflow_step"], row["step_category"], row["description"]) == (
        "In Progress",
        "in_progress",
        None,
    )
    unmapped = map_status({**payload, "name": "QUESTION"}, CONFIG, meta("jira.status"))
    assert (unmapped["workflow_step"], unmapped["step_category"]) == (None, None)


def test_custom_field() -> None:
    payload = {
        "id": "customfield_10020",
        "name": "Sprint",
        "custom": True,
        "schema": {"type": "array", "items": "json", "customId": 10020},
    }
    row = map_field(payload, CONFIG, meta("jira.field", "customfield_10020"))
    assert set(row) == columns(CustomField)
    assert (row["name"], row["custom"], row["field_type"]) == ("Sprint", True, "array")
    assert row["schema"]["customId"] == 10020
    system = map_field({"id": "summary", "name": "Summary"}, CONFIG, meta("jira.field"))
    assert (system["custom"], system["field_type"], system["schema"]) == (False, None, None)


def test_agile_sprint() -> None:
    payload = {
        "id": 7,
        "name": "EE Sprint 7",
        "state": "closed",
        "goal": "Ship",
        "startDate": "2020-06-12T00:38:51.882Z",
        "endDate": "2020-06-26T00:38:00.000Z",
        "completeDate": "2020-06-22T05:59:58.980Z",
        "originBoardId": 8,
    }
    row = map_sprint(payload, CONFIG, meta("jira.sprint", "7", raw_id=1220, version=1220))
    assert set(row) == columns(Sprint)
    assert (row["external_id"], row["board_external_id"], row["state"], row["goal"]) == (
        "7",
        "8",
        "closed",
        "Ship",
    )
    assert row["complete_at"] == datetime(2020, 6, 22, 5, 59, 58, 980000, tzinfo=UTC)
    assert row["version"] == 1220
    with pytest.raises(RecordError, match=r"sprint\.name is missing"):
        map_sprint({"id": 8}, CONFIG, meta("jira.sprint", "8"))


def test_repository_node() -> None:
    node = {
        "id": "R_kgDOA",
        "databaseId": 1234,
        "name": "api",
        "nameWithOwner": "acme/api",
        "description": None,
        "url": "https://github.com/acme/api",
        "primaryLanguage": {"name": "Go"},
        "defaultBranchRef": {"name": "main"},
        "visibility": "PRIVATE",
        "isPrivate": True,
        "isArchived": False,
        "isFork": False,
        "createdAt": "2020-01-01T00:00:00Z",
        "updatedAt": "2024-01-01T00:00:00Z",
        "pushedAt": "2024-02-01T00:00:00Z",
    }
    row = map_repository(node, CONFIG, meta("github.repository", "R_kgDOA", integration_id=GITHUB))
    assert set(row) == columns(Repository)
    assert (row["full_name"], row["owner"], row["name"], row["language"]) == (
        "acme/api",
        "acme",
        "api",
        "Go",
    )
    assert (row["default_branch"], row["visibility"], row["is_private"]) == (
        "main",
        "private",
        True,
    )
    assert row["pushed_at"] == datetime(2024, 2, 1, tzinfo=UTC)
    empty = {**node, "primaryLanguage": None, "defaultBranchRef": None, "visibility": None}
    row = map_repository(empty, CONFIG, meta("github.repository"))
    assert (row["language"], row["default_branch"], row["visibility"]) == (None, None, None)
