"""Issues of one simulated Jira site, generated lazily from (seed, site, index).

Issue i belongs to project i % P with number i // P + 1 and id 10001 + i. Its `updated` time is
t0 + i*step + jitter (jitter < step), strictly increasing in i, so "updated >= X" is a binary
search. Its changelog is replayed from an initial state, so each history's `from` equals the
previous `to` and the issue's current fields equal the last history's values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from connectors.simulator.config import SimulatorConfig
from connectors.simulator.jira_catalog import JiraCatalog
from connectors.simulator.jira_schema import (
    BUG,
    EPIC,
    ODD_TYPE,
    PRIORITIES,
    RESOLUTIONS,
    STATUS_BY_ID,
    STORY,
    STORY_POINTS,
    SUBTASK,
    TASK,
    issue_key,
)
from connectors.simulator.rand import DAY_MS, HOUR_MS, JiraClock, mix, rng

_POINTS = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0)
_VERBS = ("Fix", "Add", "Refactor", "Investigate", "Document", "Migrate", "修复", "Mejorar")
_OBJECTS = (
    "login flow",
    "billing export",
    "search index",
    "API rate limiter",
    "dashboard charts",
    "用户权限",
    "sincronización de datos",
    "webhook retries",
    "cache warm-up",
    "CSV import",
)
_LABELS = ("backend", "frontend", "tech-debt", "客户", "urgent", "Saas", "Fiabilité")
SUBTASK_SLOTS = (3, 7, 12)  # k % 20 positions that are sub-tasks of the issue just before them


@dataclass(frozen=True, slots=True)
class History:
    id: int
    created_ms: int
    author: int | None  # user index; None: an anonymous change (the `author` key is absent)
    items: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class IssueCore:
    index: int
    id: str
    key: str
    project: int
    type: int
    parent: int | None
    created_ms: int
    updated_ms: int  # before any touch
    reporter: int
    summary: str
    labels: tuple[str, ...]
    status: str
    status_changed_ms: int
    assignee: int | None
    priority: int | None
    resolution: int | None
    resolved_ms: int | None
    sprints: tuple[int, ...]
    points: float | None
    team: int | None
    histories: tuple[History, ...]


@dataclass(frozen=True, slots=True)
class DevPullRequest:
    """A PR as the Development field and dev-status show it."""

    number: int
    title: str
    url: str
    status: str  # OPEN / MERGED / DECLINED
    source_branch: str
    destination_branch: str
    repository: str  # owner/name
    repository_url: str
    updated_ms: int
    author: str | None
    comments: int


class DevSource(Protocol):
    def pull_requests_for_issue(self, i: int) -> list[DevPullRequest]: ...


class JiraSite(JiraCatalog):
    def __init__(self, config: SimulatorConfig, site: str) -> None:
        super().__init__(config, site)
        self.n = config.issues_per_site
        self.p = config.projects_per_site
        self.max_histories = config.max_histories
        self.step_ms = max(1, self.span_ms // max(1, self.n))
        self.dev_source: DevSource | None = None
        self._clock = JiraClock(self.tz)
        self.core: Callable[[int], IssueCore] = lru_cache(maxsize=16384)(self._generate)
        self.rendered_histories: Callable[[int, str], tuple[dict[str, Any], ...]] = lru_cache(
            maxsize=2048
        )(self._render_histories)

    # -- O(1) facts about issue i ------------------------------------------------------------
    def updated_ms(self, i: int) -> int:
        return self.t0_ms + i * self.step_ms + mix(self.seed, 2, i) % self.step_ms

    def issue_id(self, i: int) -> str:
        return str(10001 + i)

    def key(self, i: int) -> str:
        return issue_key(self.prefix, self.p, i)

    def index_of(self, ref: str) -> int | None:
        """The index of an issue id or key on this site (None when there is no such issue)."""
        if ref.isdigit():
            i = int(ref) - 10001
        else:
            project_key, _, number = ref.upper().rpartition("-")
            project = self.project_by_ref.get(project_key)
            if project is None or not number.isdigit() or int(number) < 1:
                return None
            i = (int(number) - 1) * self.p + project.index
        return i if 0 <= i < self.n else None

    def type_of(self, i: int) -> int:
        slot = (i // self.p) % 20
        if slot == 0:
            return EPIC
        if slot in SUBTASK_SLOTS:
            return SUBTASK
        roll = mix(self.seed, 3, i) % 100
        return STORY if roll < 40 else TASK if roll < 70 else BUG if roll < 95 else ODD_TYPE

    def parent_of(self, i: int) -> int | None:
        kind = self.type_of(i)
        if kind == SUBTASK:
            return i - self.p
        if kind == EPIC:
            return None
        h = mix(self.seed, 4, i)
        if h % 100 >= 60:
            return None
        k = i // self.p
        return 20 * ((h >> 8) % (k // 20 + 1)) * self.p + i % self.p

    def subtask_of(self, i: int) -> int | None:
        """The sub-task whose parent is issue i, if any."""
        child = i + self.p
        return child if child < self.n and self.type_of(child) == SUBTASK else None

    def history_count(self, i: int) -> int:
        if self.max_histories == 0:
            return 0
        h = mix(self.seed, 5, i)
        roll = h % 1000
        big = self.max_histories > 100 and (roll < 15 or i // self.p == 5)
        if big:
            return 101 + (h >> 12) % (self.max_histories - 100)
        if roll < 100:
            return 0
        return min(self.max_histories, 1 + (h >> 12) % 6 + (h >> 20) % 8 * ((h >> 24) % 3))

    # -- generation ----------------------------------------------------------------------------
    def _generate(self, i: int) -> IssueCore:
        r = rng(self.seed, 6, i)
        project = self.projects[i % self.p]
        workflow = project.workflow
        kind = self.type_of(i)
        updated = self.updated_ms(i)
        created = updated - HOUR_MS - r.randrange(120 * DAY_MS)
        users = self.user_count
        pos = 0
        assignee = None if r.random() < 0.25 else r.randrange(users)
        priority = None if r.random() < 0.1 else r.choice((1, 2, 2, 3, 3, 3, 3, 4))
        sprints: list[int] = []
        if kind != EPIC and r.random() < 0.5:
            sprints.append(self._sprint_id(project.board_id, created))
        points = None if kind in (EPIC, SUBTASK) or r.random() < 0.3 else r.choice(_POINTS)
        resolution: int | None = None
        resolved_ms: int | None = None
        status_changed = created
        n = self.history_count(i)
        gap = (updated - created) // max(1, n)
        histories: list[History] = []
        base_id = 100000 + i * (self.max_histories + 1)
        for h in range(n):
            at = updated if h == n - 1 else created + h * gap + 1 + r.randrange(max(1, gap - 1))
            items: list[dict[str, Any]] = []
            roll = r.random()
            if roll < 0.45:
                new_pos = self._next_status(workflow, pos, r.random(), r.randrange(len(workflow)))
                old_done = _is_done(workflow[pos])
                new_done = _is_done(workflow[new_pos])
                items.append(_status_item(workflow[pos], workflow[new_pos]))
                if new_done and not old_done:
                    resolution = r.randrange(len(RESOLUTIONS)) if r.random() < 0.3 else 0
                    items.append(_resolution_item(None, resolution))
                    resolved_ms = at
                elif old_done and not new_done:
                    items.append(_resolution_item(resolution, None))
                    resolution, resolved_ms = None, None
                pos, status_changed = new_pos, at
                if r.random() < 0.2:
                    other = r.randrange(users)
                    if other != assignee:
                        items.append(self._assignee_item(assignee, other))
                        assignee = other
            elif roll < 0.65:
                new_assignee: int | None = None if r.random() < 0.1 else r.randrange(users)
                if new_assignee == assignee:
                    new_assignee = (assignee + 1) % users if assignee is not None else 0
                items.append(self._assignee_item(assignee, new_assignee))
                assignee = new_assignee
            elif roll < 0.75:
                new_priority = r.randrange(len(PRIORITIES))
                if new_priority == priority:
                    new_priority = (new_priority + 1) % len(PRIORITIES)
                items.append(_priority_item(priority, new_priority))
                priority = new_priority
            elif (
                roll < 0.88
                and kind != EPIC
                and (sprint_id := self._sprint_id(project.board_id, at)) not in sprints
            ):
                items.append(self._sprint_item(sprints, [*sprints, sprint_id]))
                sprints = [*sprints, sprint_id]
            else:
                new_points = r.choice(_POINTS)
                if new_points == points:
                    new_points = _POINTS[(_POINTS.index(new_points) + 1) % len(_POINTS)]
                items.append(_points_item(points, new_points))
                points = new_points
            author_roll = r.random()
            author = (
                None
                if author_roll < 0.03
                else self.automation_user
                if author_roll < 0.08
                else (
                    assignee if assignee is not None and author_roll < 0.6 else r.randrange(users)
                )
            )
            histories.append(History(base_id + h, at, author, tuple(items)))
        summary = f"{r.choice(_VERBS)} {r.choice(_OBJECTS)}"
        if i % 41 == 7:
            summary = "\u200b" + summary  # real summaries sometimes start with a zero-width space
        return IssueCore(
            index=i,
            id=self.issue_id(i),
            key=self.key(i),
            project=project.index,
            type=kind,
            parent=self.parent_of(i),
            created_ms=created,
            updated_ms=updated,
            reporter=r.randrange(users),
            summary=summary,
            labels=tuple(sorted({r.choice(_LABELS) for _ in range(r.choice((0, 0, 1, 2)))})),
            status=workflow[pos],
            status_changed_ms=status_changed,
            assignee=assignee,
            priority=priority,
            resolution=resolution,
            resolved_ms=resolved_ms,
            sprints=tuple(sprints),
            points=points,
            team=None if r.random() < 0.4 else r.randrange(self.team_count),
            histories=tuple(histories),
        )

    @staticmethod
    def _next_status(workflow: tuple[str, ...], pos: int, roll: float, jump: int) -> int:
        if _is_done(workflow[pos]):
            return 1 if len(workflow) > 1 and not _is_done(workflow[1]) else 0
        if roll < 0.75 and pos + 1 < len(workflow):
            return pos + 1
        if roll < 0.85 and pos > 0:
            return pos - 1
        return jump if jump != pos else (pos + 1) % len(workflow)

    def _sprint_id(self, board_id: int, ms: int) -> int:
        return (board_id - 1) * self.sprints_per_board + self.sprint_index_at(ms) + 1

    def _assignee_item(self, old: int | None, new: int | None) -> dict[str, Any]:
        old_id = self.user_ids[old] if old is not None else None
        new_id = self.user_ids[new] if new is not None else None
        return {
            "field": "assignee",
            "fieldtype": "jira",
            "fieldId": "assignee",
            "from": old_id,
            "fromString": self.user_name(old) if old is not None else None,
            "to": new_id,
            "toString": self.user_name(new) if new is not None else None,
            "tmpFromAccountId": old_id,
            "tmpToAccountId": new_id,
        }

    def _sprint_item(self, old: list[int], new: list[int]) -> dict[str, Any]:
        def names(ids: list[int]) -> str:
            return ", ".join(self.sprint_by_id(s).name for s in ids)

        return {
            "field": "Sprint",
            "fieldtype": "custom",
            "fieldId": "customfield_10020",
            "from": ", ".join(map(str, old)),
            "fromString": names(old),
            "to": ", ".join(map(str, new)),
            "toString": names(new),
        }

    def _render_histories(self, i: int, base: str) -> tuple[dict[str, Any], ...]:
        """Ascending by time; cached because overflow paging renders the same issue repeatedly."""
        out = []
        for history in self.core(i).histories:
            rendered: dict[str, Any] = {"id": str(history.id)}
            if history.author is not None:
                rendered["author"] = self.user(history.author, base)
            rendered["created"] = self.time(history.created_ms)
            rendered["items"] = list(history.items)
            out.append(rendered)
        return tuple(out)

    def time(self, ms: int) -> str:
        return self._clock(ms)

    def dev_pull_requests(self, i: int) -> list[DevPullRequest]:
        return self.dev_source.pull_requests_for_issue(i) if self.dev_source is not None else []


def _is_done(status_id: str) -> bool:
    return STATUS_BY_ID[status_id][2] == "done"


def _status_item(old: str, new: str) -> dict[str, Any]:
    return {
        "field": "status",
        "fieldtype": "jira",
        "fieldId": "status",
        "from": old,
        "fromString": STATUS_BY_ID[old][1],
        "to": new,
        "toString": STATUS_BY_ID[new][1],
    }


def _resolution_item(old: int | None, new: int | None) -> dict[str, Any]:
    return {
        "field": "resolution",
        "fieldtype": "jira",
        "fieldId": "resolution",
        "from": RESOLUTIONS[old][0] if old is not None else None,
        "fromString": RESOLUTIONS[old][1] if old is not None else None,
        "to": RESOLUTIONS[new][0] if new is not None else None,
        "toString": RESOLUTIONS[new][1] if new is not None else None,
    }


def _priority_item(old: int | None, new: int) -> dict[str, Any]:
    return {
        "field": "priority",
        "fieldtype": "jira",
        "fieldId": "priority",
        "from": PRIORITIES[old][0] if old is not None else None,
        "fromString": PRIORITIES[old][1] if old is not None else None,
        "to": PRIORITIES[new][0],
        "toString": PRIORITIES[new][1],
    }


def _points_item(old: float | None, new: float) -> dict[str, Any]:
    # Number custom fields carry their values in the *String keys only, as Jira Cloud does.
    return {
        "field": "Story point estimate",
        "fieldtype": "custom",
        "fieldId": STORY_POINTS,
        "from": None,
        "fromString": f"{old:g}" if old is not None else None,
        "to": None,
        "toString": f"{new:g}",
    }
