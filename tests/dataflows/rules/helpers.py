"""Builders for the rule tests: the tenant configuration (the default workflow plus mappings for
the recorded real payloads), synthetic Jira payloads, and readers of ../shared/fixtures/real."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

from dataflows.rules import RecordMeta
from dataflows.rules._payload import parse_timestamp
from pulse.tenant_config import TenantConfig, TypeTarget, WorkflowStep, name_key

FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "real"

JIRA = 11  # integration ids
FAROS_JIRA = 12
GITHUB = 21
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)

STEPS = (
    WorkflowStep("Backlog", 1, "to_do"),
    WorkflowStep("Refinement", 2, "to_do"),
    WorkflowStep("Ready", 3, "to_do"),
    WorkflowStep("To Do", 4, "to_do", is_commitment_point=True),
    WorkflowStep("In Progress", 5, "in_progress"),
    WorkflowStep("Code Review", 6, "waiting"),
    WorkflowStep("Testing", 7, "in_progress"),
    WorkflowStep("Ready for Release", 8, "waiting"),
    WorkflowStep("Done", 9, "done"),
    WorkflowStep("Discarded", None, "discarded"),
)
STEP = {s.name: s for s in STEPS}

TYPES = {
    "Epic": ("Epic", 1),
    "Story": ("Story", 0),
    "故事": ("Story", 0),
    "Task": ("Task", 0),
    "任务": ("Task", 0),
    "Bug": ("Bug", 0),
    "缺陷": ("Bug", 0),
    "Sub-task": ("Sub-task", -1),
    "子任务": ("Sub-task", -1),
}  # "Test Execution" (a real type) stays unmapped on purpose

STATUSES = {
    "Backlog": "Backlog",
    "Open": "Backlog",
    "Inbox": "Backlog",
    "打开": "Backlog",
    "重新打开": "Backlog",
    "Refinement": "Refinement",
    "细化中": "Refinement",
    "Ready for Dev": "Ready",
    "Ready": "Ready",
    "To Do": "To Do",
    "待办": "To Do",
    "Selected for Development": "To Do",
    "In Progress": "In Progress",
    "In Development": "In Progress",
    "开发中": "In Progress",
    "处理中": "In Progress",
    "Code Review": "Code Review",
    "代码评审": "Code Review",
    "Testing": "Testing",
    "测试中": "Testing",
    "待测试": "Testing",
    "Ready for Release": "Ready for Release",
    "待发布": "Ready for Release",
    "Done": "Done",
    "Resolved": "Done",
    "Closed": "Done",
    "已完成": "Done",
    "已关闭": "Done",
    "已发布": "Done",
    "Discarded": "Discarded",
    "无效的": "Discarded",
    "暂不修改": "Discarded",
}  # e.g. "QUESTION" and "Blocked / On Hold" stay unmapped on purpose

SLOTS = {
    JIRA: {
        "sprints": "customfield_10020",
        "story_points": "customfield_10024",
        "development": "customfield_10000",
        "team": "customfield_10001",
        "custom_01": "customfield_10019",
        "custom_02": "customfield_10021",
        "custom_03": "customfield_10315",
    },
    FAROS_JIRA: {
        "sprints": "customfield_10020",
        "story_points": "customfield_10028",
        "development": "customfield_10000",
        "epic_link": "customfield_10014",
    },
}


def make_config(
    *,
    statuses: dict[str, str] | None = None,
    steps: tuple[WorkflowStep, ...] = STEPS,
    config_version: int = 7,
) -> TenantConfig:
    return TenantConfig(
        tenant_id=3,
        config_version=config_version,
        workflows={None: steps},
        type_mappings={None: {name_key(k): TypeTarget(*v) for k, v in TYPES.items()}},
        status_mappings={
            None: {name_key(k): v for k, v in (STATUSES if statuses is None else statuses).items()}
        },
        field_slots=SLOTS,
    )


CONFIG = make_config()


def meta(
    entity: str = "jira.issue",
    external_id: str = "10001",
    *,
    integration_id: int = JIRA,
    raw_id: int = 501,
    version: int = 1_700_000_000_000_000,
    job_run_id: int | None = 9,
) -> RecordMeta:
    return RecordMeta(entity, external_id, integration_id, raw_id, version, job_run_id)


def jira_time(moment: datetime, offset_hours: int = 8) -> str:
    """A Jira timestamp (`2024-03-01T17:00:00.000+0800`) for an aware moment."""
    local = moment.astimezone(timezone(timedelta(hours=offset_hours)))
    text = local.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    sign = "+" if offset_hours >= 0 else "-"
    return f"{text}{sign}{abs(offset_hours):02d}00"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def history(
    ident: int, hours: float, *items: dict[str, Any], author: str | None = "Ana"
) -> dict[str, Any]:
    return {
        "id": str(ident),
        "created": jira_time(at(hours)),
        "author": {"displayName": author, "accountId": f"acc-{author}"} if author else None,
        "items": list(items),
    }


def status_item(frm: str | None, to: str) -> dict[str, Any]:
    return {
        "field": "status",
        "fieldtype": "jira",
        "from": None if frm is None else f"id-{frm}",
        "fromString": frm,
        "to": f"id-{to}",
        "toString": to,
    }


def moves(*path: tuple[float, str], start: str = "To Do") -> list[dict[str, Any]]:
    """Histories for a status path: `moves((1, "In Progress"), (5, "Done"), start="To Do")`."""
    out, current = [], start
    for n, (hours, status) in enumerate(path):
        out.append(history(100 + n, hours, status_item(current, status)))
        current = status
    return out


def issue(
    *,
    histories: Iterable[dict[str, Any]] = (),
    status: str = "To Do",
    category: str = "new",
    issuetype: str = "Story",
    created: float = 0,
    resolved: float | None = None,
    **fields: Any,
) -> dict[str, Any]:
    hist = list(histories)
    body: dict[str, Any] = {
        "summary": "Add the export button",
        "issuetype": {"id": "10001", "name": issuetype, "subtask": False, "hierarchyLevel": 0},
        "status": {"id": "3", "name": status, "statusCategory": {"key": category, "name": "x"}},
        "project": {"id": "10000", "key": "PUL", "name": "Pulse"},
        "priority": {"name": "High"},
        "resolution": {"name": "Done"} if resolved is not None else None,
        "resolutiondate": jira_time(at(resolved)) if resolved is not None else None,
        "assignee": {"accountId": "acc-1", "displayName": "Zoë Ångström"},
        "reporter": {"accountId": "acc-2", "displayName": "Rankin"},
        "labels": ["backend", "export"],
        "created": jira_time(at(created)),
        "updated": jira_time(at(max([created, *(h_hours(h) for h in hist)]))),
    }
    body.update(fields)
    return {
        "id": "10001",
        "key": "PUL-1",
        "fields": body,
        "changelog": {"startAt": 0, "maxResults": len(hist), "total": len(hist), "histories": hist},
    }


def h_hours(h: dict[str, Any]) -> float:
    return (parse_timestamp(h["created"]) - T0).total_seconds() / 3600


# -- recorded real payloads ---------------------------------------------------------------------


@cache
def devlake(path: str) -> list[dict[str, Any]]:
    """Rows of a DevLake raw table CSV (`jira/_raw_jira_api_issues.csv`), `data` parsed."""
    csv.field_size_limit(1 << 30)
    text = (FIXTURES / path).read_text(encoding="utf-8").lstrip("\n")
    return [{**row, "data": json.loads(row["data"])} for row in csv.DictReader(io.StringIO(text))]


@cache
def faros(log: str, stream: str) -> list[dict[str, Any]]:
    """RECORD data of one stream (`...__issues`) in a faros Airbyte log."""
    found = []
    with (FIXTURES / "faros" / log).open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                message = json.loads(line)
                if message.get("type") == "RECORD" and message["record"]["stream"].endswith(
                    f"__{stream}"
                ):
                    found.append(message["record"]["data"])
    return found
