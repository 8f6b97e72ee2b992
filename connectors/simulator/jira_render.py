"""Jira issue payloads (search results, changelogs, dev-status) rendered from generated issues."""

from __future__ import annotations

import json
from collections.abc import Container
from dataclasses import dataclass
from typing import Any

from connectors.simulator.jira_issues import DevPullRequest, IssueCore, JiraSite
from connectors.simulator.jira_schema import DEVELOPMENT, SPRINT, STORY_POINTS, TEAM
from connectors.simulator.rand import mix, utc_millis

EMBEDDED_HISTORIES = 100  # search results embed at most this many histories (the newest)
_ID_FIELDS = frozenset({"id", "key"})
_EXPAND = "operations,versionedRepresentations,editmeta,changelog,renderedFields"


@dataclass(frozen=True, slots=True)
class FieldSelection:
    """The `fields` request parameter: `*all`/`*navigable`, names, and `-name` exclusions."""

    all: bool
    include: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()

    @property
    def id_only(self) -> bool:
        return not self.all and self.include <= _ID_FIELDS

    def wants(self, name: str) -> bool:
        return (self.all or name in self.include) and name not in self.exclude


def parse_fields(value: Any, *, default_all: bool) -> FieldSelection:
    if value is None or value == "" or value == []:
        return FieldSelection(all=default_all)
    names = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    names = [n.strip() for n in names if n.strip()]
    star = any(n in ("*all", "*navigable") for n in names)
    include = frozenset(n for n in names if not n.startswith(("*", "-")))
    exclude = frozenset(n[1:] for n in names if n.startswith("-"))
    if not include and exclude:
        star = True  # only exclusions: everything else
    return FieldSelection(all=star, include=include, exclude=exclude)


def issue_json(
    site: JiraSite,
    i: int,
    base: str,
    selection: FieldSelection,
    *,
    changelog: bool,
    updated_ms: int,
    deleted: Container[int],
    api: str = "3",
) -> dict[str, Any]:
    issue_id = site.issue_id(i)
    out: dict[str, Any] = {
        "expand": _EXPAND,
        "id": issue_id,
        "self": f"{base}/rest/api/{api}/issue/{issue_id}",
        "key": site.key(i),
    }
    if not selection.id_only:
        out["fields"] = _fields(site, site.core(i), base, selection, updated_ms, deleted, api)
    if changelog:
        histories = site.rendered_histories(i, base)
        embedded = list(reversed(histories[-EMBEDDED_HISTORIES:]))
        out["changelog"] = {
            "startAt": 0,
            "maxResults": len(embedded),
            "total": len(histories),
            "histories": embedded,
        }
    return out


def _fields(
    site: JiraSite,
    core: IssueCore,
    base: str,
    sel: FieldSelection,
    updated_ms: int,
    deleted: Container[int],
    api: str,
) -> dict[str, Any]:
    want = sel.wants
    h = mix(site.seed, 20, core.index)
    f: dict[str, Any] = {}
    if want("summary"):
        f["summary"] = core.summary
    if want("description"):
        f["description"] = _description(core, h, api)
    if want("issuetype"):
        f["issuetype"] = site.issue_type(core.type, base)
    if want("status"):
        f["status"] = site.status(core.status, base)
    if want("project"):
        f["project"] = site.project_ref(site.projects[core.project], base)
    if want("priority"):
        f["priority"] = site.priority(core.priority, base) if core.priority is not None else None
    if want("resolution"):
        f["resolution"] = (
            site.resolution(core.resolution, base) if core.resolution is not None else None
        )
    if want("resolutiondate"):
        f["resolutiondate"] = site.time(core.resolved_ms) if core.resolved_ms is not None else None
    if want("assignee"):
        f["assignee"] = site.user(core.assignee, base) if core.assignee is not None else None
    if want("reporter"):
        f["reporter"] = site.user(core.reporter, base)
    if want("creator"):
        f["creator"] = site.user(core.reporter, base)
    if want("labels"):
        f["labels"] = list(core.labels)
    # Like Jira, `parent` is absent (not null) on issues without one.
    if want("parent") and core.parent is not None and core.parent not in deleted:
        f["parent"] = _issue_ref(site, site.core(core.parent), base)
    if want("subtasks"):
        child = site.subtask_of(core.index)
        f["subtasks"] = (
            [_issue_ref(site, site.core(child), base)]
            if child is not None and child not in deleted
            else []
        )
    if want("created"):
        f["created"] = site.time(core.created_ms)
    if want("updated"):
        f["updated"] = site.time(updated_ms)
    if want("statuscategorychangedate"):
        f["statuscategorychangedate"] = site.time(core.status_changed_ms)
    if want("duedate"):
        f["duedate"] = utc_millis(core.created_ms + 20 * 86_400_000)[:10] if h % 5 == 0 else None
    for name, empty in (
        ("lastViewed", None),
        ("environment", None),
        ("security", None),
        ("components", []),
        ("fixVersions", []),
        ("versions", []),
        ("issuelinks", []),
        ("timeestimate", None),
        ("timespent", None),
    ):
        if want(name):
            f[name] = empty
    if want("watches"):
        f["watches"] = {
            "self": f"{base}/rest/api/{api}/issue/{core.key}/watchers",
            "watchCount": h % 4,
            "isWatching": False,
        }
    if want("votes"):
        f["votes"] = {
            "self": f"{base}/rest/api/{api}/issue/{core.key}/votes",
            "votes": 0,
            "hasVoted": False,
        }
    if want(DEVELOPMENT):
        f[DEVELOPMENT] = development_field(site, core.index)
    if want(TEAM):
        f[TEAM] = site.team(core.team) if core.team is not None else None
    if want("customfield_10014"):
        f["customfield_10014"] = None
    if want("customfield_10015"):
        f["customfield_10015"] = utc_millis(core.created_ms)[:10] if h % 3 == 0 else None
    if want(STORY_POINTS):
        f[STORY_POINTS] = core.points
    if want("customfield_10019"):
        f["customfield_10019"] = f"0|i{core.index:05x}:"
    if want(SPRINT):
        f[SPRINT] = (
            [site.sprint_field_json(site.sprint_by_id(s)) for s in core.sprints]
            if core.sprints
            else None
        )
    if want("customfield_10021"):
        f["customfield_10021"] = (
            [
                {
                    "self": f"{base}/rest/api/3/customFieldOption/10019",
                    "value": "Impediment",
                    "id": "10019",
                }
            ]
            if h % 20 == 1
            else None
        )
    if want("customfield_10315"):
        f["customfield_10315"] = (
            site.user((h >> 8) % site.user_count, base) if h % 10 == 2 else None
        )
    return f


def _description(core: IssueCore, h: int, api: str) -> Any:
    if h % 10 < 3:
        return None
    text = f"{core.summary}. Acceptance: the change ships behind a flag (ref {core.key})."
    if api == "2":
        return text  # Server/DC and v2 answer wiki markup strings, not ADF
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def _issue_ref(site: JiraSite, core: IssueCore, base: str) -> dict[str, Any]:
    return {
        "id": core.id,
        "key": core.key,
        "self": f"{base}/rest/api/3/issue/{core.id}",
        "fields": {
            "summary": core.summary,
            "status": site.status(core.status, base),
            "priority": site.priority(core.priority, base) if core.priority is not None else None,
            "issuetype": site.issue_type(core.type, base),
        },
    }


def changelog_page(site: JiraSite, i: int, base: str, start: int, limit: int) -> dict[str, Any]:
    """`GET /issue/{id}/changelog`: oldest first, offset paging."""
    histories = site.rendered_histories(i, base)
    values = list(histories[start : start + limit])
    last = start + len(values) >= len(histories)
    out: dict[str, Any] = {
        "self": f"{base}/rest/api/3/issue/{site.issue_id(i)}/changelog?maxResults={limit}"
        f"&startAt={start}",
        "maxResults": limit,
        "startAt": start,
        "total": len(histories),
        "isLast": last,
        "values": values,
    }
    if not last:
        out["nextPage"] = (
            f"{base}/rest/api/3/issue/{site.issue_id(i)}/changelog?maxResults="
            f"{limit}&startAt={start + limit}"
        )
    return out


def development_field(site: JiraSite, i: int) -> str:
    """The Development field: "{}" without links, else Jira's odd summary string."""
    prs = site.dev_pull_requests(i)
    if not prs:
        return "{}"
    state = _overall_state(prs)
    newest = max(p.updated_ms for p in prs)
    summary = {
        "cachedValue": {
            "errors": [],
            "summary": {
                "pullrequest": {
                    "overall": {
                        "count": len(prs),
                        "lastUpdated": site.time(newest),
                        "stateCount": len(prs),
                        "state": state,
                        "dataType": "pullrequest",
                        "open": state == "OPEN",
                    },
                    "byInstanceType": {"GitHub": {"count": len(prs), "name": "GitHub"}},
                }
            },
        },
        "isStale": False,
    }
    return (
        f"{{pullrequest={{dataType=pullrequest, state={state}, stateCount={len(prs)}}}, "
        f"json={json.dumps(summary, separators=(',', ':'))}}}"
    )


def _overall_state(prs: list[DevPullRequest]) -> str:
    states = {p.status for p in prs}
    return "OPEN" if "OPEN" in states else "MERGED" if "MERGED" in states else "DECLINED"


def dev_status(site: JiraSite, i: int, data_type: str) -> dict[str, Any]:
    prs = site.dev_pull_requests(i)
    detail: dict[str, Any] = {
        "_instance": {
            "singleInstance": True,
            "baseUrl": "https://github.com",
            "name": "GitHub",
            "typeName": "GitHub",
            "id": "github",
            "type": "github",
        }
    }
    if data_type == "pullrequest":
        detail["pullRequests"] = [_dev_pr(site, p) for p in prs]
        detail["branches"] = []
    elif data_type == "branch":
        detail["branches"] = [
            {
                "name": p.source_branch,
                "url": f"{p.repository_url}/tree/{p.source_branch}",
                "createPullRequestUrl": f"{p.repository_url}/compare/{p.source_branch}?expand=1",
                "repository": {"name": p.repository, "url": p.repository_url},
            }
            for p in prs
        ]
        detail["pullRequests"] = []
    else:
        detail["repositories"] = [
            {"name": name, "url": url, "commits": []}
            for name, url in sorted({(p.repository, p.repository_url) for p in prs})
        ]
    return {"errors": [], "detail": [detail]}


def _dev_pr(site: JiraSite, p: DevPullRequest) -> dict[str, Any]:
    return {
        "author": {"name": p.author or "ghost", "avatar": ""},
        "id": f"#{p.number}",
        "name": p.title,
        "commentCount": p.comments,
        "source": {"branch": p.source_branch, "url": f"{p.repository_url}/tree/{p.source_branch}"},
        "destination": {
            "branch": p.destination_branch,
            "url": f"{p.repository_url}/tree/{p.destination_branch}",
        },
        "reviewers": [],
        "status": p.status,
        "url": p.url,
        "lastUpdate": site.time(p.updated_ms),
        "repositoryId": f"github-{p.repository}",
        "repositoryName": p.repository,
        "repositoryUrl": p.repository_url,
    }
