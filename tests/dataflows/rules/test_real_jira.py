"""The rules on recorded real Jira payloads (../shared/fixtures/real, read in place)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest

from dataflows.rules import (
    map_dev_status,
    map_field,
    map_issue_type,
    map_project,
    map_sprint,
    map_status,
    status_transitions,
    transform_record,
)
from dataflows.rules._payload import parse_timestamp
from pulse.tenant_config import name_key

from .helpers import CONFIG, FAROS_JIRA, JIRA, STATUSES, devlake, faros, meta

ISSUES = "jira/_raw_jira_api_issues.csv"
CHANGELOGS = "jira/_raw_jira_api_issue_changelogs.csv"


def status_items_by_id(histories: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    """The oracle: status items in history-id order (Jira ids grow with time)."""
    ordered = sorted(histories, key=lambda h: int(h["id"]))
    return [
        (item["fromString"], item["toString"])
        for h in ordered
        for item in h["items"]
        if item["field"] == "status"
    ]


def transform_issue(payload: dict[str, Any], raw_id: int = 1, integration: int = JIRA) -> Any:
    return transform_record(
        "jira.issue",
        raw_id=raw_id,
        external_id=payload["id"],
        version=payload["fields"]["updated"],
        payload=payload,
        config=CONFIG,
        integration_id=integration,
        job_run_id=None,
    )


def test_the_issues_embed_complete_changelogs_and_the_changelog_csv_is_other_issues() -> None:
    issues = devlake(ISSUES)
    assert len(issues) == 33
    for row in issues:
        changelog = row["data"]["changelog"]
        assert changelog["total"] == len(changelog["histories"])
    issue_ids = {int(row["data"]["id"]) for row in issues}
    changelog_issue_ids = {int(issue_input(r)["issue_id"]) for r in devlake(CHANGELOGS)}
    assert changelog_issue_ids == {13383, 13491, 13954}
    assert not issue_ids & changelog_issue_ids


def issue_input(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row["input"])


@pytest.mark.parametrize("row", devlake(ISSUES), ids=lambda r: r["data"]["key"])
def test_real_issue(row: dict[str, Any]) -> None:
    fields = row["data"]["fields"]
    out = transform_issue(row["data"], int(row["id"]))
    (item,) = out.rows["work_items"]
    transitions = out.rows.get("work_item_transitions", [])

    assert item["key"] == row["data"]["key"]
    resolution = fields.get("resolutiondate")
    assert item["resolved_at"] == (parse_timestamp(resolution) if resolution else None)
    assert item["source_status_category"] == fields["status"]["statusCategory"]["key"]
    assert item["source_status"] == fields["status"]["name"]

    expected = status_items_by_id(row["data"]["changelog"]["histories"])
    assert [(t["from_status"], t["to_status"]) for t in transitions] == expected
    assert [t["seq"] for t in transitions] == list(range(1, len(expected) + 1))
    created = item["source_created_at"]
    for before, after in zip([None, *transitions], transitions, strict=False):
        assert after["entered_from_at"] == (before["transitioned_at"] if before else created)
    if transitions:  # the chain of statuses is unbroken
        assert transitions[-1]["to_status"] == item["source_status"]

    # Every second of the timeline is accounted once: per step, or as unmapped.
    last = transitions[-1]["transitioned_at"] if transitions else created
    end = item["resolved_at"]
    open_seconds = max(0, int((end - last).total_seconds())) if end else 0
    closed = sum(t["seconds_in_from_status"] for t in transitions)
    assert sum(item["step_seconds"].values()) + item["unmapped_status_seconds"] == (
        closed + open_seconds
    )
    # The configured workflow agrees with Jira's own resolution on these issues.
    if end is None:
        assert item["completion_count"] == 0
    else:
        assert abs(item["last_completed_at"] - end) < timedelta(seconds=1)
    assert item["type_mapped"] == (fields["issuetype"]["name"] != "Test Execution")
    assert item["status_mapped"]


def test_real_issue_hierarchy_and_sprints() -> None:
    items = {}
    memberships: dict[str, set[str]] = defaultdict(set)
    for row in devlake(ISSUES):
        out = transform_issue(row["data"], int(row["id"]))
        item = out.rows["work_items"][0]
        items[item["key"]] = item
        for m in out.rows.get("work_item_sprints", []):
            memberships[item["key"]].add(m["sprint_external_id"])
    assert (items["EE-25"]["parent_key"], items["EE-25"]["epic_key"]) == ("EE-1", None)
    assert (items["EE-25"]["type_name"], items["EE-25"]["hierarchy_level"]) == ("Sub-task", -1)
    assert (items["K5-2"]["parent_key"], items["K5-2"]["epic_key"]) == ("K5-1", "K5-1")
    assert (items["K5-4"]["type_name"], items["K5-4"]["hierarchy_level"]) == ("Epic", 1)
    assert items["EE-1"]["labels"] == ["frontEnd", "Saas"]
    assert items["EE-1"]["summary"].endswith("模块性")
    assert items["EE-1"]["development"] is False  # Jira's "{}"
    assert memberships["EE-1"] == {"7"}
    assert memberships["K5-2"] == {"175"}


def test_real_detached_changelogs_whatever_their_order() -> None:
    by_issue: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in devlake(CHANGELOGS):
        by_issue[issue_input(row)["issue_id"]].append(row["data"])
    assert sum(map(len, by_issue.values())) == 279
    for issue_id, histories in by_issue.items():
        # No issue payload comes with these: the timeline starts at the first history.
        created = min(parse_timestamp(h["created"]) for h in histories)
        record = meta(external_id=str(issue_id))
        oldest_first = status_transitions(histories, created_at=created, config=CONFIG, meta=record)
        newest_first = status_transitions(
            histories[::-1], created_at=created, config=CONFIG, meta=record
        )
        assert oldest_first == newest_first
        assert [(t.from_status, t.to_status) for t in oldest_first] == status_items_by_id(histories)
    transitions = status_transitions(
        by_issue[13954],
        created_at=min(parse_timestamp(h["created"]) for h in by_issue[13954]),
        config=CONFIG,
        meta=meta(),
    )
    assert [(t.to_status, t.to_step and t.to_step.name) for t in transitions[:3]] == [
        ("开发中", "In Progress"),
        ("Code Review", "Code Review"),
        ("待测试", "Testing"),
    ]


def faros_issue(key: str) -> dict[str, Any]:
    payload = next(i for i in faros("jira-all-streams.log", "issues") if i["key"] == key)
    out = transform_issue(payload, integration=FAROS_JIRA)
    return out.rows


def test_faros_issues() -> None:
    issues = faros("jira-all-streams.log", "issues")
    assert len(issues) == 5
    for payload in issues:
        rows = transform_issue(payload, integration=FAROS_JIRA).rows
        expected = status_items_by_id(payload["changelog"]["histories"])
        transitions = rows.get("work_item_transitions", [])
        assert [(t["from_status"], t["to_status"]) for t in transitions] == expected
        assert rows["work_items"][0]["development"] is False

    playg1 = faros_issue("PLAYG-1")
    item = playg1["work_items"][0]
    assert (item["story_points"], item["workflow_step"], item["start_count"]) == (
        5.0,
        "In Progress",
        1,
    )
    assert item["first_started_at"] == parse_timestamp("2021-09-16T15:43:43.077-0700")
    assert len(playg1["sprints"]) == 6
    assert {s["state"] for s in playg1["sprints"]} == {"closed", "active"}

    done = faros_issue("PLAYG-3")["work_items"][0]
    assert (done["direct_completion"], done["start_count"], done["cycle_seconds"]) == (
        True,
        0,
        None,
    )

    playg5 = faros_issue("PLAYG-5")
    item = playg5["work_items"][0]
    started = parse_timestamp("2021-09-16T23:58:25.062-0700")
    finished = parse_timestamp("2021-10-05T17:35:41.985-0700")
    assert (item["first_started_at"], item["last_completed_at"]) == (started, finished)
    assert item["cycle_seconds"] == int((finished - started).total_seconds())
    assert item["work_seconds"] == item["cycle_seconds"]
    removed = {m["sprint_external_id"] for m in playg5["work_item_sprints"] if m["removed_at"]}
    current = {m["sprint_external_id"] for m in playg5["work_item_sprints"] if not m["removed_at"]}
    assert current == {"17", "18", "19", "20"}  # the sprint field today
    assert removed
    assert not removed & current

    assert faros_issue("PLAYG-7")["work_items"][0]["epic_key"] == "PLAYG-6"  # epic link slot


def test_real_statuses_with_chinese_names() -> None:
    rows = devlake("jira/_raw_jira_api_status.csv")
    mapped = [
        map_status(r["data"], CONFIG, meta("jira.status", r["data"]["id"], raw_id=int(r["id"])))
        for r in rows
    ]
    assert len(mapped) == 53
    by_name = {m["name"]: m for m in mapped}
    for source, row in zip(rows, mapped, strict=True):
        category = source["data"]["statusCategory"]
        assert (row["category_key"], row["category_name"]) == (category["key"], category["name"])
        assert row["project_keys"] == []  # the global /status listing names no project
        assert (row["workflow_step"] is not None) == (
            name_key(row["name"]) in map(name_key, STATUSES)
        )
    assert (by_name["已完成"]["workflow_step"], by_name["已完成"]["step_category"]) == (
        "Done",
        "done",
    )
    assert by_name["处理中"]["workflow_step"] == "In Progress"
    assert by_name["代码评审"]["step_category"] == "waiting"
    assert by_name["暂不修改"]["step_category"] == "discarded"
    assert by_name["QUESTION"]["workflow_step"] is None


def test_real_catalog_payloads() -> None:
    types = [
        map_issue_type(r["data"], CONFIG, meta("jira.issue_type"))
        for r in devlake("jira/_raw_jira_api_issue_types.csv")
    ]
    assert {(t["name"], t["canonical_type"], t["hierarchy_level"]) for t in types} >= {
        ("故事", "Story", 0),
        ("子任务", "Sub-task", -1),
        ("Epic", "Epic", 1),
        ("Test Execution", None, None),
    }
    projects = [
        map_project(r["data"], CONFIG, meta("jira.project"))
        for r in devlake("jira/_raw_jira_api_projects.csv")
    ]
    assert len(projects) == 12
    assert all(p["key"] and p["name"] for p in projects)
    sprints = [
        map_sprint(r["data"], CONFIG, meta("jira.sprint", raw_id=int(r["id"])))
        for r in devlake("jira/_raw_jira_api_sprints.csv")
    ]
    assert len(sprints) == 30
    assert all(s["start_at"] is None or s["start_at"].tzinfo for s in sprints)
    assert {s["state"] for s in sprints} <= {"closed", "active", "future"}
    fields = [
        map_field(r["data"], CONFIG, meta("jira.field"))
        for r in devlake("jira/_raw_jira_api_issue_fields.csv")
    ]
    assert [(f["name"], f["field_type"]) for f in fields] == [
        ("cu用户单选", "user"),
        ("gitBranch", "any"),
    ]
    for stream, mapper in (
        ("issue_fields", map_field),
        ("sprints", map_sprint),
        ("projects", map_project),
        ("workflow_statuses", map_status),
    ):
        for payload in faros("jira-all-streams.log", stream):
            assert mapper(payload, CONFIG, meta("jira.x"))["external_id"]


def test_real_development_panels_are_not_github_pull_requests() -> None:
    rows = devlake("jira/_raw_jira_api_development_panels.csv")
    assert len(rows) == 91
    assert all(map_dev_status(r["data"], CONFIG, meta("jira.dev_status")) == [] for r in rows)
