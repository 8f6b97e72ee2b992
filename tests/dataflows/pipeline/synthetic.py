"""Synthetic Jira issues for the pipeline kill test and the pipeline and replay benchmarks
(`bench/pipeline.py` and `bench/replay.py` import this module and `synthetic_store`).

Extracting 50,000-200,000 issues through the simulator's HTTP API takes far too long, and the
simulator's changelogs hold few status changes (about 3 per issue). This module builds issues as
Jira Cloud's v3 search returns them to our connector (`connectors.jira.fields.STANDARD_FIELDS`
plus story points, sprint, team and development, `expand=changelog`): full user, status, type,
priority and project objects, an ADF description, and a complete changelog, newest history
first, of about 15 status transitions (8-18 random moves through statuses the default tenant
configuration maps, then mostly on to Done; about 1 issue in 50 passes through "Awaiting
Customer", which it does not map), mixed with assignee, priority, story point and label
changes. Epics are every 20th issue of a project, sub-tasks every 10th (parented to the issue
before them), other issues below the epic of their block of 20.

Every issue is a pure function of (seed, index): about 10% of the issues also come in an
older version (fewer histories, an earlier `updated`), yielded before the newer one, the way
a re-fetched issue reaches the raw store.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["BASE", "PROJECTS", "SLOT_FIELDS", "SyntheticIssue", "issues"]

BASE = "https://synthetic.atlassian.net"
PROJECTS = (
    ("10000", "CORE", "Core Platform"),
    ("10001", "WEB", "Web App"),
    ("10002", "OPS", "Operations"),
)
STORY_POINTS, SPRINT, TEAM, DEVELOPMENT = (
    "customfield_10016",
    "customfield_10020",
    "customfield_10001",
    "customfield_10000",
)
# The tenant's special slots → these fields (synthetic_store maps them for every tenant).
SLOT_FIELDS = {
    "story_points": STORY_POINTS,
    "sprints": SPRINT,
    "team": TEAM,
    "development": DEVELOPMENT,
}
_T0 = datetime(2025, 1, 1, tzinfo=UTC)
_OFFSETS = (8, -7, 1, 5)  # site time zones, hours east of UTC

# name → (status id, Jira status category)
_STATUSES = {
    "Backlog": ("10100", "new"),
    "Refinement": ("10101", "new"),
    "Ready": ("10102", "new"),
    "To Do": ("10103", "new"),
    "In Progress": ("3", "indeterminate"),
    "Blocked": ("10104", "indeterminate"),
    "Code Review": ("10105", "indeterminate"),
    "Testing": ("10106", "indeterminate"),
    "Ready for Release": ("10107", "indeterminate"),
    "Done": ("10108", "done"),
    "Reopened": ("10109", "new"),
    "Won't Do": ("10110", "done"),
    "Awaiting Customer": ("10111", "indeterminate"),  # not in the default status mappings
}
_CATEGORIES = {
    "new": (2, "blue-gray", "To Do"),
    "indeterminate": (4, "yellow", "In Progress"),
    "done": (3, "green", "Done"),
}
# The next status, weighted: forward mostly, with review and test rework, blocks, returns to
# the backlog and reopenings.
_NEXT: dict[str, tuple[tuple[str, int], ...]] = {
    "Backlog": (("Refinement", 6), ("Ready", 2), ("To Do", 2)),
    "Refinement": (("Ready", 7), ("Backlog", 2), ("To Do", 1)),
    "Ready": (("To Do", 8), ("Refinement", 2)),
    "To Do": (("In Progress", 8), ("Backlog", 1), ("Ready", 1)),
    "In Progress": (("Code Review", 6), ("Blocked", 2), ("Testing", 1), ("To Do", 1)),
    "Blocked": (("In Progress", 9), ("Awaiting Customer", 1)),
    "Awaiting Customer": (("In Progress", 1),),
    "Code Review": (("Testing", 5), ("In Progress", 4), ("Done", 1)),
    "Testing": (("Ready for Release", 5), ("In Progress", 4), ("Done", 1)),
    "Ready for Release": (("Done", 9), ("Testing", 1)),
    "Done": (("Reopened", 1),),
    "Reopened": (("In Progress", 6), ("To Do", 4)),
    "Won't Do": (("Reopened", 1),),
}
_WEIGHTED = {
    name: [n for n, weight in choices for _ in range(weight)] for name, choices in _NEXT.items()
}
_FORWARD = {
    "Backlog": "To Do",
    "Refinement": "Ready",
    "Ready": "To Do",
    "To Do": "In Progress",
    "Reopened": "In Progress",
    "In Progress": "Code Review",
    "Blocked": "In Progress",
    "Awaiting Customer": "In Progress",
    "Code Review": "Testing",
    "Testing": "Ready for Release",
    "Ready for Release": "Done",
}
# (id, name, hierarchy level, subtask)
_TYPES = (
    ("10000", "Epic", 1, False),
    ("10001", "Story", 0, False),
    ("10002", "Task", 0, False),
    ("10003", "Bug", 0, False),
    ("10004", "Sub-task", -1, True),
)
_EPIC, _SUBTASK = 0, 4
_PRIORITIES = (("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"), ("5", "Lowest"))
_PEOPLE = (
    "Ana Souza", "Bilal Khan", "Chen Wei", "Dana Levi", "Emeka Obi", "Farah Haddad",
    "Gustav Berg", "Hana Sato", "Ivan Petrov", "Julia Costa", "Kofi Mensah", "Lena Vogel",
    "Mateo Ruiz", "Nora Lind", "Omar Aziz", "Priya Nair", "Quinn Walsh", "Rosa Marin",
    "Sven Holm", "Tara Singh",
)  # fmt: skip
_TEAMS = ("Atlas", "Borealis", "Cobalt")
_LABELS = ("backend", "frontend", "api", "customer", "tech-debt", "security", "performance")
_POINTS = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0)
_VERBS = ("Fix", "Add", "Refactor", "Document", "Migrate", "Speed up", "Validate", "Remove")
_OBJECTS = (
    "login flow", "billing export", "search index", "audit log", "webhook retries",
    "CSV import", "rate limiter", "dashboard filters", "notification settings", "SSO setup",
)  # fmt: skip
_SENTENCES = (
    "Customers report that the page takes several seconds to load after the last release.",
    "The current behaviour differs from the specification agreed with the product team.",
    "Steps to reproduce are attached; it happens on every browser we tried.",
    "We need this before the quarterly planning so that the roadmap can rely on it.",
    "Acceptance criteria: the change is covered by tests and documented in the runbook.",
    "Logs show intermittent timeouts from the upstream service under load.",
)
_SPRINT_DAYS = 14


@dataclass(frozen=True, slots=True)
class SyntheticIssue:
    """One version of an issue as the raw store keeps it."""

    external_id: str
    version: str  # the connectors' canonical form (`utc_version`): UTC ISO 8601, milliseconds
    payload: dict[str, Any]


def _avatars(seed: str) -> dict[str, str]:
    url = f"https://avatar-management.example/{seed}"
    return {size: f"{url}/{size[:2]}" for size in ("48x48", "24x24", "16x16", "32x32")}


class _Site:
    """One site's time zone and the reference objects it repeats on every issue, built once and
    shared (read-only) by the payloads."""

    def __init__(self, offset_hours: int) -> None:
        self._offset = offset_hours * 60
        self._suffix = f"{'+' if offset_hours >= 0 else '-'}{abs(offset_hours):02d}00"
        self._days: dict[int, str] = {}
        zone = "Etc/GMT" + (f"{-offset_hours:+d}" if offset_hours else "")
        self.users = [
            {
                "self": f"{BASE}/rest/api/3/user?accountId=5b10ac8d82e05b22cc7d{u:04x}",
                "accountId": f"5b10ac8d82e05b22cc7d{u:04x}",
                "emailAddress": f"user{u}@synthetic.example",
                "avatarUrls": _avatars(f"5b10ac8d82e05b22cc7d{u:04x}"),
                "displayName": name,
                "active": True,
                "timeZone": zone,
                "accountType": "atlassian",
            }
            for u, name in enumerate(_PEOPLE)
        ]
        self.statuses = {name: _status(name) for name in _STATUSES}
        self.types = [
            {
                "self": f"{BASE}/rest/api/3/issuetype/{ident}",
                "id": ident,
                "description": f"A {name.lower()}.",
                "iconUrl": f"{BASE}/rest/api/2/universal_avatar/view/type/issuetype/avatar/{ident}",
                "name": name,
                "subtask": subtask,
                "avatarId": int(ident),
                "hierarchyLevel": level,
            }
            for ident, name, level, subtask in _TYPES
        ]
        self.priorities = [
            {
                "self": f"{BASE}/rest/api/3/priority/{ident}",
                "iconUrl": f"{BASE}/images/icons/priorities/{name.lower()}.svg",
                "name": name,
                "id": ident,
            }
            for ident, name in _PRIORITIES
        ]
        self.projects = [
            {
                "self": f"{BASE}/rest/api/3/project/{ident}",
                "id": ident,
                "key": key,
                "name": name,
                "projectTypeKey": "software",
                "simplified": False,
                "avatarUrls": _avatars(f"project-{ident}"),
            }
            for ident, key, name in PROJECTS
        ]
        self.resolutions = {
            name: {
                "self": f"{BASE}/rest/api/3/resolution/{ident}",
                "id": ident,
                "description": f"{name}.",
                "name": name,
            }
            for ident, name in (("10000", "Done"), ("10001", "Won't Do"))
        }

    def _day(self, day: int) -> str:
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = (_T0 + timedelta(days=day)).strftime("%Y-%m-%d")
        return text

    def time(self, minute: int) -> str:
        """Minutes after _T0 as Jira writes a timestamp: the site's zone, `+0800` offsets."""
        day, rest = divmod(minute + self._offset, 1440)
        return f"{self._day(day)}T{rest // 60:02d}:{rest % 60:02d}:00.000{self._suffix}"

    def utc(self, minute: int, *, z: bool = False) -> str:
        day, rest = divmod(minute, 1440)
        suffix = "Z" if z else "+00:00"
        return f"{self._day(day)}T{rest // 60:02d}:{rest % 60:02d}:00.000{suffix}"


def _status(name: str) -> dict[str, Any]:
    ident, category = _STATUSES[name]
    cat_id, color, cat_name = _CATEGORIES[category]
    return {
        "self": f"{BASE}/rest/api/3/status/{ident}",
        "description": f"Issues in {name}.",
        "iconUrl": f"{BASE}/images/icons/statuses/generic.png",
        "name": name,
        "untranslatedName": name,
        "id": ident,
        "statusCategory": {
            "self": f"{BASE}/rest/api/3/statuscategory/{cat_id}",
            "id": cat_id,
            "key": category,
            "colorName": color,
            "name": cat_name,
        },
    }


def _item(field: str, field_id: str, old: Any, new: Any, old_text: Any, new_text: Any) -> dict:
    return {
        "field": field,
        "fieldtype": "custom" if field_id.startswith("customfield_") else "jira",
        "fieldId": field_id,
        "from": old,
        "fromString": old_text,
        "to": new,
        "toString": new_text,
    }


def _walk(r: random.Random, moves: int) -> list[str]:
    """Statuses visited from Backlog: `moves` random moves, then mostly on to Done."""
    path = ["Backlog"]
    for _ in range(moves):
        options = _WEIGHTED[path[-1]]
        path.append(options[int(r.random() * len(options))])
    ending = r.random()
    if ending < 0.7:
        while path[-1] not in ("Done", "Won't Do"):
            path.append(_FORWARD[path[-1]])
    elif ending < 0.75 and path[-1] not in ("Done", "Won't Do"):
        path.append("Won't Do")
    return path


class _Issue:
    """The changing state of one issue while its changelog is written."""

    def __init__(self, site: _Site, r: random.Random, created: int, kind: int) -> None:
        self.site, self.r = site, r
        self.minute = created
        self.assignee: int | None = int(r.random() * len(_PEOPLE)) if r.random() < 0.85 else None
        self.priority = int(r.random() * len(_PRIORITIES))
        self.points = None if kind in (_EPIC, _SUBTASK) else _POINTS[int(r.random() * 5)]
        self.labels = sorted({_LABELS[int(r.random() * len(_LABELS))] for _ in range(kind % 3)})
        self.histories: list[dict[str, Any]] = []
        self.minutes: list[int] = []
        self.next_id = 0

    def history(self, items: list[dict[str, Any]]) -> None:
        r = self.r
        self.minute += 30 + int(r.random() * 4 * 1440)
        self.next_id += 1
        assignee = self.assignee
        author = assignee if assignee is not None and r.random() < 0.7 else int(r.random() * 20)
        self.minutes.append(self.minute)
        self.histories.append(
            {
                "id": str(self.next_id),
                "author": self.site.users[author],
                "created": self.site.time(self.minute),
                "items": items,
            }
        )

    def other_change(self) -> None:
        r, users = self.r, self.site.users
        roll = r.random()
        if roll < 0.4:
            old = users[self.assignee] if self.assignee is not None else None
            new = int(r.random() * len(_PEOPLE))
            item = _item(
                "assignee",
                "assignee",
                old and old["accountId"],
                users[new]["accountId"],
                old and old["displayName"],
                _PEOPLE[new],
            )
            self.assignee = new
        elif roll < 0.6:
            new = (self.priority + 1 + int(r.random() * 4)) % len(_PRIORITIES)
            old_p, new_p = _PRIORITIES[self.priority], _PRIORITIES[new]
            item = _item("priority", "priority", old_p[0], new_p[0], old_p[1], new_p[1])
            self.priority = new
        elif roll < 0.8 and self.points is not None:
            points = _POINTS[int(r.random() * len(_POINTS))]
            item = _item(
                "Story Points", STORY_POINTS, None, None, f"{self.points:g}", f"{points:g}"
            )
            self.points = points
        else:
            labels = sorted({*self.labels, _LABELS[int(r.random() * len(_LABELS))]})
            item = _item("labels", "labels", None, None, " ".join(self.labels), " ".join(labels))
            self.labels = labels
        self.history([item])


def _description(r: random.Random) -> dict[str, Any] | None:
    if r.random() < 0.2:
        return None
    paragraphs = [
        {
            "type": "paragraph",
            "content": [
                {
                    "type": "text",
                    "text": _SENTENCES[int(r.random() * 6)] + " " + _SENTENCES[int(r.random() * 6)],
                }
            ],
        }
        for _ in range(1 + int(r.random() * 3))
    ]
    return {"type": "doc", "version": 1, "content": paragraphs}


def _sprint(site: _Site, project: int, minute: int) -> dict[str, Any]:
    number = minute // (_SPRINT_DAYS * 1440)
    start = number * _SPRINT_DAYS * 1440
    end = start + _SPRINT_DAYS * 1440
    return {
        "id": 1000 * (project + 1) + number,
        "name": f"{PROJECTS[project][1]} Sprint {number + 1}",
        "state": "closed",
        "boardId": project + 1,
        "goal": "",
        "startDate": site.utc(start, z=True),
        "endDate": site.utc(end, z=True),
        "completeDate": site.utc(end, z=True),
    }


def build_issue(
    site: _Site, seed: int, index: int, moves: tuple[int, int] = (8, 18)
) -> list[SyntheticIssue]:
    """Issue `index` of a site; its older version first when it was fetched twice. `moves`:
    the range of random status moves (an epic makes 3), before the walk on to Done."""
    r = random.Random(seed * 1_000_003 + index)
    project = index % len(PROJECTS)
    number = index // len(PROJECTS) + 1
    kind = _EPIC if number % 20 == 1 else _SUBTASK if number % 10 == 5 else 1 + int(r.random() * 3)
    created = index * 3 + int(r.random() * 1440)
    issue = _Issue(site, r, created, kind)
    low, high = moves
    path = _walk(r, 3 if kind == _EPIC else low + int(r.random() * (high - low + 1)))
    for old, new in itertools.pairwise(path):
        while r.random() < 0.2:  # other fields change between the status moves
            issue.other_change()
        items = [_item("status", "status", _STATUSES[old][0], _STATUSES[new][0], old, new)]
        done_before, done_after = _STATUSES[old][1] == "done", _STATUSES[new][1] == "done"
        if done_after and not done_before:
            items.append(_item("resolution", "resolution", None, "10000", None, new))
        elif done_before and not done_after:
            items.append(_item("resolution", "resolution", "10000", None, old, None))
        issue.history(items)

    shared = _shared_fields(site, r, index, project, number, kind)
    versions = [len(issue.histories)]
    if r.random() < 0.1 and len(issue.histories) > 4:  # fetched twice: an older version first
        versions.insert(0, 2 + int(r.random() * (len(issue.histories) - 3)))
    ident = (str(20_000 + index), f"{PROJECTS[project][1]}-{number}", project)
    return [
        _version(site, issue, shared, ident=ident, created=created, upto=upto) for upto in versions
    ]


def _shared_fields(
    site: _Site, r: random.Random, index: int, project: int, number: int, kind: int
) -> dict[str, Any]:
    """The fields every version of the issue has in common."""
    fields: dict[str, Any] = {
        "summary": f"{_VERBS[int(r.random() * 8)]} {_OBJECTS[int(r.random() * 10)]}",
        "description": _description(r),
        "issuetype": site.types[kind],
        "project": site.projects[project],
        "reporter": site.users[index % len(_PEOPLE)],
        TEAM: {"id": str(project + 1), "name": _TEAMS[project]} if kind != _EPIC else None,
        DEVELOPMENT: (
            "{pullrequest={dataType=pullrequest, state=MERGED, stateCount=1}, "
            'json={"cachedValue":{"summary":{"pullrequest":{"overall":{"count":1}}}}}}'
            if r.random() < 0.3
            else "{}"
        ),
    }
    if kind != _EPIC and number > 20:
        parent_number = number - 1 if kind == _SUBTASK else (number - 1) // 20 * 20 + 1
        parent_id = str(20_000 + (parent_number - 1) * len(PROJECTS) + project)
        fields["parent"] = {
            "id": parent_id,
            "key": f"{PROJECTS[project][1]}-{parent_number}",
            "self": f"{BASE}/rest/api/3/issue/{parent_id}",
            "fields": {
                "summary": f"{PROJECTS[project][1]}-{parent_number}",
                "status": site.statuses["In Progress"],
                "priority": site.priorities[2],
                "issuetype": site.types[1 if kind == _SUBTASK else _EPIC],
            },
        }
    return fields


def _version(
    site: _Site,
    issue: _Issue,
    shared: dict[str, Any],
    *,
    ident: tuple[str, str, int],
    created: int,
    upto: int,
) -> SyntheticIssue:
    """The issue as fetched after its first `upto` histories. An older version keeps the final
    assignee, priority, points and labels: it only has to lose to the newer one."""
    issue_id, key, project = ident
    histories = issue.histories[:upto]
    updated = issue.minutes[upto - 1] if upto else created
    status, status_minute, resolved = "Backlog", created, None
    for history, minute in zip(histories, issue.minutes, strict=False):
        for item in history["items"]:
            if item["field"] == "status":
                status, status_minute = item["toString"], minute
                resolved = minute if _STATUSES[status][1] == "done" else None
    epic = shared["issuetype"]["name"] == "Epic"
    resolution = "Won't Do" if status == "Won't Do" else "Done"
    fields = {
        **shared,
        "status": site.statuses[status],
        "priority": site.priorities[issue.priority],
        "resolution": site.resolutions[resolution] if resolved is not None else None,
        "resolutiondate": site.time(resolved) if resolved is not None else None,
        "assignee": site.users[issue.assignee] if issue.assignee is not None else None,
        "labels": issue.labels,
        "created": site.time(created),
        "updated": site.time(updated),
        STORY_POINTS: issue.points,
        SPRINT: None if epic else [_sprint(site, project, status_minute)],
    }
    payload = {
        "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
        "id": issue_id,
        "self": f"{BASE}/rest/api/3/issue/{issue_id}",
        "key": key,
        "fields": fields,
        "changelog": {
            "startAt": 0,
            "maxResults": len(histories),
            "total": len(histories),
            "histories": histories[::-1],  # newest first, as search results embed them
        },
    }
    return SyntheticIssue(issue_id, site.utc(updated), payload)


def issues(
    count: int, *, seed: int = 1, moves: tuple[int, int] = (8, 18)
) -> Iterator[SyntheticIssue]:
    """The `count` issues of one site (seed), with about 10% more records for older versions.
    The default `moves` give about 15 status transitions per issue."""
    site = _Site(_OFFSETS[seed % len(_OFFSETS)])
    for index in range(count):
        yield from build_issue(site, seed, index, moves)
