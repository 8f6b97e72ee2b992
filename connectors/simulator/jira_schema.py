"""Static Jira catalog tables shared by every simulated site: statuses and workflows, issue
types, priorities, resolutions, custom fields, names; and the key scheme."""

from __future__ import annotations

import re
from typing import Any

from connectors.simulator.rand import DAY_MS

# Indexed by a hash of the site name only, so a site keeps its zone whatever the seed.
TIME_ZONES = (
    "America/Los_Angeles",
    "Europe/Madrid",
    "Asia/Kolkata",
    "Asia/Shanghai",
    "America/Sao_Paulo",
    "Australia/Sydney",
)

CATEGORIES: dict[str, dict[str, Any]] = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {
        "id": 4,
        "key": "indeterminate",
        "colorName": "yellow",
        "name": "In Progress",
    },
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}

# (id, name, category). Ids are shared by projects, as on a real site.
STATUSES: tuple[tuple[str, str, str], ...] = (
    ("10000", "To Do", "new"),
    ("3", "In Progress", "indeterminate"),
    ("10001", "In Review", "indeterminate"),
    ("10002", "Done", "done"),
    ("10003", "Won't Do", "done"),
    ("10004", "待办", "new"),
    ("10005", "处理中", "indeterminate"),
    ("10006", "已完成", "done"),
    ("10007", "Abierto", "new"),
    ("10008", "En curso", "indeterminate"),
    ("10009", "Revisión", "indeterminate"),
    ("10010", "Cerrado", "done"),
)
STATUS_BY_ID = {s[0]: s for s in STATUSES}
# Workflows in forward order; the first status is every issue's initial status.
WORKFLOWS: tuple[tuple[str, ...], ...] = (
    ("10000", "3", "10001", "10002", "10003"),
    ("10004", "10005", "10006"),
    ("10007", "10008", "10009", "10010"),
)

# (id, name, hierarchyLevel, subtask, description)
ISSUE_TYPES: tuple[tuple[str, str, int, bool, str], ...] = (
    ("10000", "Epic", 1, False, "A big user story that needs to be broken down."),
    ("10001", "Story", 0, False, "Functionality or a feature expressed as a user goal."),
    ("10002", "Task", 0, False, "A small, distinct piece of work."),
    ("10003", "Bug", 0, False, "A problem or error."),
    ("10004", "Sub-task", -1, True, "A small piece of work that's part of a larger task."),
    ("10005", "Tech-Debt / 技术债", 0, False, "Refactoring and clean-up (an unusual type name)."),
)
EPIC, STORY, TASK, BUG, SUBTASK, ODD_TYPE = range(6)

PRIORITIES = (("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"), ("5", "Lowest"))
RESOLUTIONS = (
    ("10000", "Done", "Work has been completed on this issue."),
    ("10001", "Won't Do", "This issue won't be actioned."),
    ("10002", "Duplicate", "The problem is a duplicate of an existing issue."),
)

PROJECT_NAMES = (
    "Platform Core",
    "移动应用",
    "Operaciones Técnicas",
    "Data Pipeline",
    "Web Portal",
    "Billing Ops",
    "Søk og Indeks",
    "Infra",
)
# The last user is the automation account.
USER_NAMES = (
    "Alice Martin",
    "张伟",
    "José Álvarez",
    "Zoë Müller",
    "Priya Raman",
    "Ana Petrova",
    "Liam O'Brien",
    "Chen Jing",
    "Mateo García",
    "Sofia Rossi",
    "Kwame Mensah",
    "Yuki Tanaka",
    "Emma Johansson",
    "Ravi Kumar",
    "李娜",
    "Lucas Silva",
    "Fatima Zahra",
    "Noah Smith",
    "Olga Ivanova",
    "Ahmed Hassan",
    "Grace Lee",
    "Diego Torres",
    "Hannah Schmidt",
    "Automation for Jira",
)
TEAMS = ("Team Phoenix", "Équipe Atlas", "平台组", "Team Nimbus")

SPRINT_MS = 14 * DAY_MS

# The custom fields a transform may map; ids follow a typical Cloud site.
STORY_POINTS = "customfield_10016"
TEAM = "customfield_10001"
SPRINT = "customfield_10020"
DEVELOPMENT = "customfield_10000"

CUSTOM_FIELDS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        DEVELOPMENT,
        "Development",
        {
            "type": "any",
            "custom": "com.atlassian.jira.plugins.jira-development-integration-plugin:devsummarycf",
        },
    ),
    (
        TEAM,
        "Team",
        {
            "type": "team",
            "custom": "com.atlassian.jira.plugin.system.customfieldtypes:atlassian-team",
        },
    ),
    (
        "customfield_10014",
        "Epic Link",
        {"type": "any", "custom": "com.pyxis.greenhopper.jira:gh-epic-link"},
    ),
    (
        "customfield_10015",
        "Start date",
        {"type": "date", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:datepicker"},
    ),
    (
        STORY_POINTS,
        "Story point estimate",
        {"type": "number", "custom": "com.pyxis.greenhopper.jira:jsw-story-points"},
    ),
    (
        "customfield_10019",
        "Rank",
        {"type": "any", "custom": "com.pyxis.greenhopper.jira:gh-lexo-rank"},
    ),
    (
        SPRINT,
        "Sprint",
        {"type": "array", "items": "json", "custom": "com.pyxis.greenhopper.jira:gh-sprint"},
    ),
    (
        "customfield_10021",
        "Flagged",
        {
            "type": "array",
            "items": "option",
            "custom": "com.atlassian.jira.plugin.system.customfieldtypes:multicheckboxes",
        },
    ),
    (
        "customfield_10315",
        "cu用户单选",
        {"type": "user", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:userpicker"},
    ),
)
SYSTEM_FIELDS = (
    "summary",
    "description",
    "issuetype",
    "status",
    "project",
    "priority",
    "resolution",
    "resolutiondate",
    "assignee",
    "reporter",
    "creator",
    "labels",
    "parent",
    "subtasks",
    "created",
    "updated",
    "statuscategorychangedate",
    "duedate",
    "issuelinks",
    "components",
    "fixVersions",
)
SYSTEM_TYPES = {
    "labels": "array",
    "subtasks": "array",
    "issuelinks": "array",
    "components": "array",
    "fixVersions": "array",
    "created": "datetime",
    "updated": "datetime",
    "resolutiondate": "datetime",
    "duedate": "date",
    "statuscategorychangedate": "datetime",
    "summary": "string",
    "description": "string",
    "assignee": "user",
    "reporter": "user",
    "creator": "user",
}


def avatars(url: str) -> dict[str, str]:
    return {f"{n}x{n}": f"{url}?size={n}" for n in (48, 24, 16, 32)}


def key_prefix(site: str) -> str:
    """`acme` -> `ACME`: the start of every project key on the site."""
    letters = re.sub(r"[^A-Z0-9]", "", site.upper())[:6] or "SIM"
    return letters if letters[0].isalpha() else "S" + letters[:5]


def project_key(prefix: str, p: int) -> str:
    return f"{prefix}{p + 1}"


def issue_key(prefix: str, projects: int, i: int) -> str:
    """Issue i lives in project i % P with number i // P + 1."""
    return f"{prefix}{i % projects + 1}-{i // projects + 1}"
