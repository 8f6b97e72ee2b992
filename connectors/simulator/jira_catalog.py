"""One simulated Jira site's catalog: projects, issue types, statuses, users, fields, boards and
sprints. Everything is derived from (seed, site) when the site is built and is small."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from connectors.simulator.config import SimulatorConfig
from connectors.simulator.jira_schema import (
    CATEGORIES,
    CUSTOM_FIELDS,
    ISSUE_TYPES,
    PRIORITIES,
    PROJECT_NAMES,
    RESOLUTIONS,
    SPRINT_MS,
    STATUS_BY_ID,
    SYSTEM_FIELDS,
    SYSTEM_TYPES,
    TEAMS,
    TIME_ZONES,
    USER_NAMES,
    WORKFLOWS,
    avatars,
    key_prefix,
    project_key,
)
from connectors.simulator.rand import (
    DAY_MS,
    MINUTE_MS,
    hex_id,
    mix,
    pick,
    text_seed,
    to_ms,
    utc_millis,
    uuid_like,
)


@dataclass(frozen=True, slots=True)
class Project:
    index: int
    id: str
    key: str
    name: str
    workflow: tuple[str, ...]
    board_id: int


@dataclass(frozen=True, slots=True)
class Sprint:
    id: int
    board_id: int
    index: int
    name: str
    state: str  # closed / active / future
    start_ms: int | None
    end_ms: int | None
    complete_ms: int | None
    goal: str


class JiraCatalog:
    """The static part of one site. Issues build on it (see jira_issues)."""

    def __init__(self, config: SimulatorConfig, site: str) -> None:
        self.site = site
        self.seed = text_seed("jira", config.seed, site)
        self.prefix = key_prefix(site)
        self.tz_name = config.time_zones.get(site) or TIME_ZONES[text_seed(site) % len(TIME_ZONES)]
        self.tz = ZoneInfo(self.tz_name)
        self.end_ms = to_ms(config.end)
        self.span_ms = config.history_days * DAY_MS
        self.t0_ms = self.end_ms - self.span_ms
        rotation = self.seed % len(WORKFLOWS)
        self.projects = tuple(
            Project(
                index=p,
                id=str(10000 + p),
                key=project_key(self.prefix, p),
                name=PROJECT_NAMES[p % len(PROJECT_NAMES)]
                + ("" if p < len(PROJECT_NAMES) else f" {p // len(PROJECT_NAMES) + 1}"),
                workflow=WORKFLOWS[(p + rotation) % len(WORKFLOWS)],
                board_id=p + 1,
            )
            for p in range(config.projects_per_site)
        )
        self.project_by_ref = {p.key: p for p in self.projects} | {p.id: p for p in self.projects}
        # Sprints run back to before the oldest issue was created (issues age up to ~120 days).
        self.sprint0_ms = (self.t0_ms - 130 * DAY_MS) // DAY_MS * DAY_MS
        self.active_sprint = (self.end_ms - self.sprint0_ms) // SPRINT_MS
        self.sprints_per_board = self.active_sprint + 2  # closed ones, the active one, one future
        self.kanban_board_id = len(self.projects) + 1
        # Small reference objects repeat on every issue and history: build each once. Callers
        # share the dicts and must never mutate them.
        for name in ("user", "issue_type", "status", "priority", "resolution", "project_ref"):
            setattr(self, name, lru_cache(maxsize=4096)(getattr(self, name)))

    # -- users ---------------------------------------------------------------------------------
    @cached_property
    def user_ids(self) -> tuple[str, ...]:
        return tuple(
            f"557058:{uuid_like(mix(self.seed, 11, u))}"
            if u % 5 == 0
            else hex_id(mix(self.seed, 11, u))
            for u in range(len(USER_NAMES))
        )

    @property
    def user_count(self) -> int:
        return len(USER_NAMES) - 1  # the last one is the automation account

    @property
    def automation_user(self) -> int:
        return len(USER_NAMES) - 1

    def user(self, u: int, base: str) -> dict[str, Any]:
        account = self.user_ids[u]
        automation = u == self.automation_user
        return {
            "self": f"{base}/rest/api/3/user?accountId={account}",
            "accountId": account,
            "emailAddress": "" if automation or u % 7 == 3 else f"user{u}@{self.site}.example",
            "avatarUrls": avatars(f"https://avatars.example/{account}"),
            "displayName": USER_NAMES[u],
            "active": u % 11 != 10,
            "timeZone": self.tz_name if u % 3 else TIME_ZONES[u % len(TIME_ZONES)],
            "accountType": "app" if automation else "atlassian",
        }

    def user_name(self, u: int) -> str:
        return USER_NAMES[u]

    # -- catalog payloads ------------------------------------------------------------------------
    def issue_type(self, t: int, base: str) -> dict[str, Any]:
        type_id, name, level, subtask, description = ISSUE_TYPES[t]
        return {
            "self": f"{base}/rest/api/3/issuetype/{type_id}",
            "id": type_id,
            "description": description,
            "iconUrl": f"{base}/rest/api/2/universal_avatar/view/type/issuetype/avatar/{10300 + t}",
            "name": name,
            "untranslatedName": name,
            "subtask": subtask,
            "avatarId": 10300 + t,
            "hierarchyLevel": level,
        }

    def status(self, status_id: str, base: str) -> dict[str, Any]:
        _, name, category = STATUS_BY_ID[status_id]
        cat = CATEGORIES[category]
        return {
            "self": f"{base}/rest/api/3/status/{status_id}",
            "description": f"Issues in {name}.",
            "iconUrl": f"{base}/images/icons/statuses/generic.png",
            "name": name,
            "untranslatedName": name,
            "id": status_id,
            "statusCategory": {"self": f"{base}/rest/api/3/statuscategory/{cat['id']}", **cat},
        }

    def priority(self, p: int, base: str) -> dict[str, Any]:
        pid, name = PRIORITIES[p]
        return {
            "self": f"{base}/rest/api/3/priority/{pid}",
            "iconUrl": f"{base}/images/icons/priorities/{name.lower()}.svg",
            "name": name,
            "id": pid,
        }

    def resolution(self, r: int, base: str) -> dict[str, Any]:
        rid, name, description = RESOLUTIONS[r]
        return {
            "self": f"{base}/rest/api/3/resolution/{rid}",
            "id": rid,
            "description": description,
            "name": name,
        }

    def project_ref(self, p: Project, base: str) -> dict[str, Any]:
        return {
            "self": f"{base}/rest/api/3/project/{p.id}",
            "id": p.id,
            "key": p.key,
            "name": p.name,
            "projectTypeKey": "software",
            "simplified": False,
            "avatarUrls": avatars(
                f"{base}/rest/api/3/universal_avatar/view/type/project/avatar/10400"
            ),
        }

    def project(self, p: Project, base: str, expand_types: bool) -> dict[str, Any]:
        out = {
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            **self.project_ref(p, base),
            "style": "classic",
            "isPrivate": False,
            "properties": {},
            "entityId": uuid_like(mix(self.seed, 12, p.index)),
            "uuid": uuid_like(mix(self.seed, 13, p.index)),
        }
        if expand_types:
            out["issueTypes"] = [self.issue_type(t, base) for t in range(len(ISSUE_TYPES))]
        return out

    def project_statuses(self, p: Project, base: str) -> list[dict[str, Any]]:
        statuses = [self.status(s, base) for s in p.workflow]
        return [
            {
                "self": f"{base}/rest/api/3/issuetype/{t[0]}",
                "id": t[0],
                "name": t[1],
                "subtask": t[3],
                "statuses": statuses,
            }
            for t in ISSUE_TYPES
        ]

    def fields(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name in SYSTEM_FIELDS:
            out.append(
                {
                    "id": name,
                    "key": name,
                    "name": name[0].upper() + name[1:],
                    "custom": False,
                    "orderable": True,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": [name],
                    "schema": {"type": SYSTEM_TYPES.get(name, name), "system": name},
                }
            )
        for field_id, name, schema in CUSTOM_FIELDS:
            custom_id = int(field_id.rsplit("_", 1)[1])
            out.append(
                {
                    "id": field_id,
                    "key": field_id,
                    "name": name,
                    "untranslatedName": name,
                    "custom": True,
                    "orderable": True,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": [f"cf[{custom_id}]", name],
                    "schema": {**schema, "customId": custom_id},
                }
            )
        return out

    def team(self, t: int) -> dict[str, Any]:
        name = TEAMS[t]
        return {
            "id": uuid_like(mix(self.seed, 14, t)),
            "name": name,
            "avatarUrl": "",
            "isVisible": True,
            "isVerified": False,
            "title": name,
            "isShared": True,
        }

    @property
    def team_count(self) -> int:
        return len(TEAMS)

    # -- boards and sprints ----------------------------------------------------------------------
    def boards(self, base: str) -> list[dict[str, Any]]:
        out = [self._board(p.board_id, p, "scrum", f"{p.key} board", base) for p in self.projects]
        first = self.projects[0]
        out.append(self._board(self.kanban_board_id, first, "kanban", f"{first.key} Kanban", base))
        return out

    def _board(self, board_id: int, p: Project, kind: str, name: str, base: str) -> dict[str, Any]:
        return {
            "id": board_id,
            "self": f"{base}/rest/agile/1.0/board/{board_id}",
            "name": name,
            "type": kind,
            "location": {
                "projectId": int(p.id),
                "displayName": f"{p.name} ({p.key})",
                "projectName": p.name,
                "projectKey": p.key,
                "projectTypeKey": "software",
                "avatarURI": f"/secure/projectavatar?size=small&pid={p.id}",
                "name": f"{p.name} ({p.key})",
            },
        }

    def sprint(self, board_id: int, s: int) -> Sprint:
        p = self.projects[board_id - 1]
        start = self.sprint0_ms + s * SPRINT_MS
        h = mix(self.seed, 15, board_id, s)
        if s < self.active_sprint:
            state = "closed"
        elif s == self.active_sprint:
            state = "active"
        else:
            state = "future"
        jitter = (h % 600) * MINUTE_MS // 10
        return Sprint(
            id=(board_id - 1) * self.sprints_per_board + s + 1,
            board_id=board_id,
            index=s,
            name=f"{p.key} Sprint {s + 1}",
            state=state,
            start_ms=None if state == "future" else start + jitter,
            end_ms=None if state == "future" else start + SPRINT_MS,
            complete_ms=start + SPRINT_MS + (h >> 20) % (36 * 60) * MINUTE_MS
            if state == "closed"
            else None,
            goal=""
            if h % 3
            else pick(("Ship the beta", "Reducir la deuda técnica", "稳定性"), h >> 8),
        )

    def sprint_json(self, sprint: Sprint, base: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": sprint.id,
            "self": f"{base}/rest/agile/1.0/sprint/{sprint.id}",
            "state": sprint.state,
            "name": sprint.name,
        }
        if sprint.start_ms is not None and sprint.end_ms is not None:
            out["startDate"] = utc_millis(sprint.start_ms)
            out["endDate"] = utc_millis(sprint.end_ms)
        if sprint.complete_ms is not None:
            out["completeDate"] = utc_millis(sprint.complete_ms)
        out["originBoardId"] = sprint.board_id
        out["goal"] = sprint.goal
        return out

    def sprint_field_json(self, sprint: Sprint) -> dict[str, Any]:
        """A sprint as the sprint custom field on an issue shows it (no self, boardId)."""
        out: dict[str, Any] = {
            "id": sprint.id,
            "name": sprint.name,
            "state": sprint.state,
            "boardId": sprint.board_id,
            "goal": sprint.goal,
        }
        if sprint.start_ms is not None and sprint.end_ms is not None:
            out["startDate"] = utc_millis(sprint.start_ms)
            out["endDate"] = utc_millis(sprint.end_ms)
        if sprint.complete_ms is not None:
            out["completeDate"] = utc_millis(sprint.complete_ms)
        return out

    def sprint_index_at(self, ms: int) -> int:
        """The sprint running at `ms` (clamped to the active one)."""
        return max(0, min(self.active_sprint, (ms - self.sprint0_ms) // SPRINT_MS))

    def sprint_by_id(self, sprint_id: int) -> Sprint:
        board = (sprint_id - 1) // self.sprints_per_board + 1
        return self.sprint(board, (sprint_id - 1) % self.sprints_per_board)

    @property
    def sprint_count(self) -> int:
        return len(self.projects) * self.sprints_per_board
