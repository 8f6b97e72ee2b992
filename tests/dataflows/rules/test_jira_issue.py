from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from dataflows.rules import RecordError, map_issue, work_item_text
from storage.schema import Sprint, WorkItem, WorkItemSprint, WorkItemTransition

from .helpers import CONFIG, JIRA, at, history, issue, meta, moves, status_item

SERVER_MANAGED = {"id", "created_at", "updated_at"}
LOADER_MANAGED = {"children_hash"}  # a digest of the child rows, taken by the loader


def columns(table: Any, *, parent: str | None = None) -> set[str]:
    names = {c.name for c in table.__table__.columns} - SERVER_MANAGED - LOADER_MANAGED
    if parent:
        names = names - {f"{parent}_id"} | {f"{parent}_external_id"}
    return names


def test_rows_have_exactly_the_table_columns() -> None:
    payload = issue(
        histories=moves((1, "In Progress"), start="To Do"),
        customfield_10020=[{"id": 7, "name": "S7", "state": "active", "boardId": 8}],
    )
    bundle = map_issue(payload, CONFIG, meta())
    assert set(bundle.work_item) == columns(WorkItem)
    assert {frozenset(r) for r in bundle.transitions} == {
        frozenset(columns(WorkItemTransition, parent="work_item"))
    }
    assert set(bundle.sprints[0]) == columns(Sprint)
    assert set(bundle.work_item_sprints[0]) == columns(WorkItemSprint, parent="work_item")


def test_identity_lineage_and_mapped_type_and_status() -> None:
    row = map_issue(issue(status="处理中", category="indeterminate"), CONFIG, meta()).work_item
    assert (row["tenant_id"], row["integration_id"], row["external_id"], row["key"]) == (
        3,
        JIRA,
        "10001",
        "PUL-1",
    )
    assert (row["raw_id"], row["version"], row["config_version"], row["last_job_run_id"]) == (
        501,
        1_700_000_000_000_000,
        7,
        9,
    )
    assert (row["active"], row["deleted_at"], row["project_key"]) == (True, None, "PUL")
    assert (row["source_type"], row["type_name"], row["hierarchy_level"], row["type_mapped"]) == (
        "Story",
        "Story",
        0,
        True,
    )
    assert (row["source_status"], row["source_status_category"]) == ("处理中", "indeterminate")
    assert (row["workflow_step"], row["step_category"], row["status_mapped"]) == (
        "In Progress",
        "in_progress",
        True,
    )


def test_type_mapping_is_case_insensitive() -> None:
    row = map_issue(issue(issuetype="  sub-TASK "), CONFIG, meta()).work_item
    assert (row["type_name"], row["hierarchy_level"], row["source_type"]) == (
        "Sub-task",
        -1,
        "  sub-TASK ",
    )


def test_unmapped_type_and_status_keep_the_item_with_raw_names() -> None:
    payload = issue(
        issuetype="Test Execution",
        status="QUESTION",
        histories=[history(1, 1, status_item("Triage-ish", "QUESTION"))],
    )
    bundle = map_issue(payload, CONFIG, meta())
    row = bundle.work_item
    assert (row["source_type"], row["type_name"], row["hierarchy_level"]) == (
        "Test Execution",
        "Test Execution",
        None,
    )
    assert (row["type_mapped"], row["status_mapped"]) == (False, False)
    assert (row["source_status"], row["workflow_step"], row["step_category"]) == (
        "QUESTION",
        None,
        None,
    )
    assert bundle.unmapped_types == {"Test Execution"}
    assert bundle.unmapped_statuses == {"QUESTION", "Triage-ish"}
    assert row["unmapped_status_seconds"] == 3600


def test_native_jira_category_is_not_used_for_metrics() -> None:
    # Jira calls "Open" in-progress-ish here; the tenant maps it to Backlog: no start.
    payload = issue(
        status="Open",
        category="indeterminate",
        histories=[history(1, 1, status_item("To Do", "Open"))],
    )
    row = map_issue(payload, CONFIG, meta()).work_item
    assert (row["start_count"], row["step_category"], row["backlog_return_count"]) == (
        0,
        "to_do",
        1,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T17:00:00.000+0800", datetime(2024, 3, 1, 9, tzinfo=UTC)),
        ("2024-03-01T02:00:00.250-0700", datetime(2024, 3, 1, 9, 0, 0, 250000, tzinfo=UTC)),
        ("2024-03-01T09:00:00Z", datetime(2024, 3, 1, 9, tzinfo=UTC)),
        ("2024-03-01T10:00:00+01:00", datetime(2024, 3, 1, 9, tzinfo=UTC)),
    ],
)
def test_timestamps_are_aware_utc(text: str, expected: datetime) -> None:
    payload = issue()
    payload["fields"].update(created=text, updated=text, resolutiondate=text)
    row = map_issue(payload, CONFIG, meta()).work_item
    for column in ("source_created_at", "source_updated_at", "resolved_at"):
        assert row[column] == expected
        assert row[column].utcoffset().total_seconds() == 0


def test_missing_or_bad_required_fields_are_record_errors() -> None:
    no_created = issue()
    del no_created["fields"]["created"]
    with pytest.raises(RecordError, match=r"'10001': fields\.created is missing"):
        map_issue(no_created, CONFIG, meta())
    bad_time = issue(updated="soon")
    with pytest.raises(RecordError, match=r"fields\.updated is not a timestamp"):
        map_issue(bad_time, CONFIG, meta())
    no_status = issue()
    no_status["fields"]["status"] = None
    with pytest.raises(RecordError, match=r"fields\.status is missing"):
        map_issue(no_status, CONFIG, meta())
    with pytest.raises(RecordError, match=r"fields is missing"):
        map_issue({"id": "1", "key": "A-1"}, CONFIG, meta())


def test_partial_changelog_is_refused() -> None:
    truncated = issue(histories=moves((1, "In Progress")))
    truncated["changelog"]["total"] = 150
    with pytest.raises(RecordError, match=r"holds 1 of 150 histories"):
        map_issue(truncated, CONFIG, meta())
    missing = issue()
    del missing["changelog"]
    with pytest.raises(RecordError, match=r"changelog is missing"):
        map_issue(missing, CONFIG, meta())


def test_people_priority_labels_and_non_ascii() -> None:
    row = map_issue(issue(summary="导出按钮 — ünïcode"), CONFIG, meta()).work_item
    assert (row["assignee"], row["assignee_account_id"]) == ("Zoë Ångström", "acc-1")
    assert (row["reporter"], row["priority"], row["labels"]) == (
        "Rankin",
        "High",
        ["backend", "export"],
    )
    assert row["summary"] == "导出按钮 — ünïcode"


def test_null_assignee_priority_resolution_and_reporter() -> None:
    row = map_issue(
        issue(assignee=None, priority=None, resolution=None, reporter=None, labels=None),
        CONFIG,
        meta(),
    ).work_item
    assert [row[c] for c in ("assignee", "assignee_account_id", "priority", "reporter")] == [
        None
    ] * 4
    assert (row["resolution"], row["resolved_at"], row["labels"]) == (None, None, [])


def test_description_adf_is_rendered_and_strings_kept() -> None:
    adf = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Ship it."}]}],
    }
    assert map_issue(issue(description=adf), CONFIG, meta()).work_item["description"] == "Ship it."
    wiki = "h1. Title\n*bold*"
    assert map_issue(issue(description=wiki), CONFIG, meta()).work_item["description"] == wiki
    assert map_issue(issue(description=None), CONFIG, meta()).work_item["description"] is None


def _parent(key: str, type_name: str, level: int | None) -> dict[str, Any]:
    issuetype: dict[str, Any] = {"name": type_name}
    if level is not None:
        issuetype["hierarchyLevel"] = level
    return {"id": "9", "key": key, "fields": {"issuetype": issuetype}}


def test_sub_task_has_its_parent_and_no_epic() -> None:
    row = map_issue(
        issue(issuetype="Sub-task", parent=_parent("PUL-7", "Story", 0)), CONFIG, meta()
    ).work_item
    assert (row["parent_key"], row["epic_key"]) == ("PUL-7", None)


@pytest.mark.parametrize(
    "parent",
    [
        _parent("PUL-2", "Epic", 1),  # team-managed: the epic is the parent
        _parent("PUL-2", "Feature", 1),  # any type at Jira's epic level
        _parent("PUL-2", "epic", None),  # named Epic, level unknown
    ],
)
def test_epic_parent_is_also_the_epic(parent: dict[str, Any]) -> None:
    row = map_issue(issue(parent=parent), CONFIG, meta()).work_item
    assert (row["parent_key"], row["epic_key"]) == ("PUL-2", "PUL-2")


def test_epic_from_agile_epic_field_or_epic_link_slot() -> None:
    agile = map_issue(issue(epic={"id": 5, "key": "PUL-5", "name": "E"}), CONFIG, meta())
    assert (agile.work_item["parent_key"], agile.work_item["epic_key"]) == (None, "PUL-5")
    linked = map_issue(
        issue(customfield_10014="PLAYG-6"), CONFIG, meta(integration_id=12)
    ).work_item
    assert linked["epic_key"] == "PLAYG-6"
    # The epic-link field means nothing where no slot names it.
    assert map_issue(issue(customfield_10014="X-1"), CONFIG, meta()).work_item["epic_key"] is None


def test_special_and_custom_slots() -> None:
    payload = issue(
        customfield_10024=5,
        customfield_10001={"id": "t-1", "name": "Platform", "title": "Platform"},
        customfield_10000="{pullrequest={dataType=pullrequest, state=OPEN, stateCount=1}}",
        customfield_10019="0|i000db:",
        customfield_10021=[{"value": "Impediment", "id": "1"}, {"value": "Risk", "id": "2"}],
        customfield_10315={"accountId": "u1", "displayName": "Wēi Zhāng"},
    )
    row = map_issue(payload, CONFIG, meta()).work_item
    assert (row["story_points"], row["team"], row["development"]) == (5.0, "Platform", True)
    assert (row["custom_01"], row["custom_02"], row["custom_03"]) == (
        "0|i000db:",
        "Impediment, Risk",
        "Wēi Zhāng",
    )
    assert all(row[f"custom_{n:02d}"] is None for n in range(4, 21))  # no slot → None


def test_slot_value_shapes() -> None:
    row = map_issue(
        issue(
            customfield_10024="2.5",
            customfield_10000="{}",
            customfield_10019={"value": "EMEA", "child": {"value": "Paris"}},
            customfield_10021=7.0,
            customfield_10315="x" * 1500,
        ),
        CONFIG,
        meta(),
    ).work_item
    assert (row["story_points"], row["development"]) == (2.5, False)
    assert (row["custom_01"], row["custom_02"]) == ("EMEA / Paris", "7")
    assert len(row["custom_03"]) == 1000
    assert row["custom_03"].endswith("…")
    unset = map_issue(issue(), CONFIG, meta()).work_item
    assert (unset["story_points"], unset["team"], unset["development"]) == (None, None, None)


def test_story_points_that_are_not_numbers_are_record_errors() -> None:
    with pytest.raises(RecordError, match=r"fields\.customfield_10024 \(story points\)"):
        map_issue(issue(customfield_10024="lots"), CONFIG, meta())


def test_content_hash_follows_the_embedded_text_only() -> None:
    base = map_issue(issue(), CONFIG, meta()).work_item
    assert base["content_hash"] == hashlib.sha256(work_item_text(base).encode()).hexdigest()
    reassigned = map_issue(issue(assignee=None), CONFIG, meta()).work_item
    retitled = map_issue(issue(summary="Other"), CONFIG, meta()).work_item
    relabelled = map_issue(issue(labels=["x"]), CONFIG, meta()).work_item
    assert reassigned["content_hash"] == base["content_hash"]
    assert retitled["content_hash"] != base["content_hash"]
    assert relabelled["content_hash"] != base["content_hash"]
    assert "PUL-1 [Story] Add the export button" in work_item_text(base)


def test_metrics_come_from_the_whole_changelog_and_resolution_closes_the_interval() -> None:
    payload = issue(
        histories=moves((2, "In Progress"), (3, "Code Review"), (5, "Done"), start="To Do"),
        status="Done",
        resolved=5,
    )
    row = map_issue(payload, CONFIG, meta()).work_item
    assert (row["committed_at"], row["first_started_at"], row["last_completed_at"]) == (
        at(0),
        at(2),
        at(5),
    )
    assert (row["work_seconds"], row["waiting_seconds"], row["cycle_seconds"]) == (
        3600,
        7200,
        3 * 3600,
    )
    assert row["step_seconds"] == {
        "To Do": 7200,
        "In Progress": 3600,
        "Code Review": 7200,
        "Done": 0,
    }
    open_item = map_issue(issue(status="To Do"), CONFIG, meta()).work_item
    assert open_item["step_seconds"] == {}  # the open interval waits for as_of
    as_of = map_issue(issue(status="To Do"), CONFIG, meta(), as_of=at(24)).work_item
    assert as_of["step_seconds"] == {"To Do": 24 * 3600}


def test_sprints_in_the_field_and_membership_from_the_changelog() -> None:
    sprint_changes = [
        history(1, 1, {"field": "Sprint", "fieldId": "customfield_10020", "from": "", "to": "7"}),
        history(2, 5, {"field": "Sprint", "from": "7", "to": "7, 8"}),
        history(3, 6, {"field": "Sprint", "from": "7, 8", "to": "8"}),
    ]
    payload = issue(
        histories=sprint_changes,
        customfield_10020=[
            {
                "id": 8,
                "name": "Sprint 8",
                "state": "active",
                "boardId": 3,
                "goal": "",
                "startDate": "2024-03-01T00:00:00.000Z",
                "endDate": "2024-03-15T00:00:00.000Z",
            },
            "com.atlassian.greenhopper.service.sprint.Sprint@5e[id=9,rapidViewId=3,"
            "state=FUTURE,name=Sprint 9, part two,startDate=<null>,endDate=<null>,"
            "completeDate=<null>,sequence=9,goal=]",
        ],
    )
    bundle = map_issue(payload, CONFIG, meta(raw_id=777))
    assert [
        (s["external_id"], s["name"], s["state"], s["board_external_id"]) for s in bundle.sprints
    ] == [
        ("8", "Sprint 8", "active", "3"),
        ("9", "Sprint 9, part two", "future", "3"),
    ]
    assert {s["version"] for s in bundle.sprints} == {777}  # sprints: the raw id
    assert bundle.sprints[0]["start_at"] == datetime(2024, 3, 1, tzinfo=UTC)
    assert bundle.sprints[0]["goal"] is None
    membership = {
        m["sprint_external_id"]: (m["added_at"], m["removed_at"]) for m in bundle.work_item_sprints
    }
    assert membership == {
        "8": (at(5), None),
        "9": (at(0), None),  # in the field without a recorded change: since creation
        "7": (at(1), at(6)),  # moved out of sprint 7
    }
    assert {m["work_item_external_id"] for m in bundle.work_item_sprints} == {"10001"}
