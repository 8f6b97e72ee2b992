"""Synthetic source payloads shaped like what the connectors store: Jira issues with complete
changelogs (search with `expand=changelog`), project statuses, dev-status details, GitHub
GraphQL pull request nodes with their nested connections."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
SPRINT_FIELD = "customfield_10020"
REPO = "acme/api"

_CATEGORY = {
    "Backlog": "new",
    "To Do": "new",
    "In Progress": "indeterminate",
    "Code Review": "indeterminate",
    "Peer Check": "indeterminate",
    "Testing": "indeterminate",
    "Done": "done",
}


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def jira_time(hours: float) -> str:
    """A Jira timestamp in the site's zone (+0800), e.g. `2025-03-03T17:00:00.000+0800`."""
    local = at(hours).astimezone(timezone(timedelta(hours=8)))
    return local.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0800"


def github_time(hours: float) -> str:
    return at(hours).strftime("%Y-%m-%dT%H:%M:%SZ")


def issue_id(number: int) -> str:
    return str(10_000 + number)


def sprint(ident: int, state: str = "active") -> dict[str, Any]:
    return {
        "id": ident,
        "name": f"Sprint {ident}",
        "state": state,
        "boardId": 1,
        "goal": "",
        "startDate": "2025-03-01T00:00:00.000Z",
        "endDate": "2025-03-15T00:00:00.000Z",
    }


def issue(
    number: int,
    *,
    path: Sequence[str] = ("In Progress", "Code Review", "Done"),
    start: str = "To Do",
    drop: Sequence[int] = (),
    updated: float | None = None,
    summary: str | None = None,
    priority: str = "High",
    sprints: Sequence[int] = (),
    project: str = "PUL",
    step_hours: float = 1.0,
) -> dict[str, Any]:
    """Issue `number` moving through `path` from `start`, one status change every `step_hours`;
    the histories at the positions in `drop` are left out (deleted at the source)."""
    histories = []
    current = start
    for n, status in enumerate(path):
        if n not in drop:
            histories.append(
                {
                    "id": str(number * 1000 + n),
                    "created": jira_time((n + 1) * step_hours),
                    "author": {"displayName": "Ana", "accountId": "acc-ana"},
                    "items": [
                        {
                            "field": "status",
                            "fieldtype": "jira",
                            "from": current,
                            "fromString": current,
                            "to": status,
                            "toString": status,
                        }
                    ],
                }
            )
        current = status
    histories.reverse()  # search results embed the newest first
    last = path[-1] if path else start
    done = _CATEGORY.get(last) == "done"
    fields: dict[str, Any] = {
        "summary": summary if summary is not None else f"Work item {number}",
        "description": None,
        "issuetype": {"id": "10001", "name": "Story", "subtask": False, "hierarchyLevel": 0},
        "status": {
            "id": last,
            "name": last,
            "statusCategory": {"key": _CATEGORY.get(last, "indeterminate"), "name": last},
        },
        "project": {"id": "10000", "key": project, "name": project.title()},
        "priority": {"name": priority},
        "resolution": {"name": "Done"} if done else None,
        "resolutiondate": jira_time(len(path) * step_hours) if done else None,
        "assignee": {"accountId": "acc-ana", "displayName": "Ana"},
        "reporter": {"accountId": "acc-bo", "displayName": "Bo"},
        "labels": ["backend"],
        "created": jira_time(0),
        "updated": jira_time(updated if updated is not None else len(path) * step_hours + 0.5),
        SPRINT_FIELD: [sprint(s) for s in sprints] or None,
    }
    return {
        "id": issue_id(number),
        "key": f"{project}-{number}",
        "fields": fields,
        "changelog": {
            "startAt": 0,
            "maxResults": len(histories),
            "total": len(histories),
            "histories": histories,
        },
    }


def status(ident: str, name: str, project: str) -> dict[str, Any]:
    """A status as the connector stores it: read per project, with `projectKey` added."""
    return {
        "id": ident,
        "name": name,
        "description": "",
        "statusCategory": {"key": _CATEGORY.get(name, "indeterminate"), "name": name},
        "projectKey": project,
    }


def project(key: str, ident: str = "10000") -> dict[str, Any]:
    return {"id": ident, "key": key, "name": key.title(), "projectTypeKey": "software"}


def dev_status(number: int, pulls: Sequence[tuple[str, int, str]]) -> dict[str, Any]:
    """Jira dev-status detail for issue `number` (no issue key, as the connector stores it)."""
    return {
        "issueId": issue_id(number),
        "errors": [],
        "detail": [
            {
                "pullRequests": [
                    {
                        "id": f"#{n}",
                        "name": f"PR {n}",
                        "url": f"https://github.com/{repo}/pull/{n}",
                        "status": state,
                        "repositoryName": repo,
                    }
                    for repo, n, state in pulls
                ],
                "branches": [],
                "_instance": {"type": "GitHub", "name": "GitHub"},
            }
        ],
    }


def _connection(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "totalCount": len(nodes),
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "nodes": nodes,
    }


def pull_request(
    number: int,
    *,
    title: str = "PUL-1: add the export",
    branch: str = "feature/PUL-2-export",
    body: str = "Adds the export button.",
    updated: float = 5.0,
    commits: Sequence[str] = ("a1", "b2", "c3"),
    reviews: Sequence[str] = ("r1", "r2"),
    comments: Sequence[str] = ("k1", "k2"),
    additions: int = 120,
    repo: str = REPO,
) -> dict[str, Any]:
    """A GraphQL pull request node (`PullRequestFields`), merged, edges stripped."""
    owner, name = repo.split("/")
    return {
        "id": f"PR_{owner}_{name}_{number}",
        "databaseId": 9000 + number,
        "number": number,
        "title": title,
        "body": body,
        "url": f"https://github.com/{repo}/pull/{number}",
        "state": "MERGED",
        "isDraft": False,
        "createdAt": github_time(0),
        "updatedAt": github_time(updated),
        "closedAt": github_time(4),
        "mergedAt": github_time(4),
        "additions": additions,
        "deletions": 30,
        "changedFiles": 4,
        "headRefName": branch,
        "baseRefName": "main",
        "author": {"login": "ana"},
        "mergedBy": {"login": "bo"},
        "repository": {"id": f"R_{owner}_{name}", "nameWithOwner": repo},
        "commits": _connection(
            [
                {
                    "commit": {
                        "oid": sha,
                        "message": f"commit {sha}",
                        "additions": 10,
                        "deletions": 2,
                        "authoredDate": github_time(1 + n * 0.1),
                        "committedDate": github_time(1 + n * 0.1),
                        "author": {
                            "name": "Ana",
                            "email": "ana@example.com",
                            "user": {"login": "ana"},
                        },
                        "committer": {"name": "GitHub", "email": "noreply@github.com"},
                    }
                }
                for n, sha in enumerate(commits)
            ]
        ),
        "reviews": _connection(
            [
                {
                    "id": ident,
                    "databaseId": 100 + n,
                    "author": {"login": "bo"},
                    "state": "APPROVED" if n == len(reviews) - 1 else "CHANGES_REQUESTED",
                    "body": "",
                    "submittedAt": github_time(2 + n * 0.5),
                    "createdAt": github_time(2 + n * 0.5),
                }
                for n, ident in enumerate(reviews)
            ]
        ),
        "comments": _connection(
            [
                {
                    "id": ident,
                    "databaseId": 200 + n,
                    "author": {"login": "cy"},
                    "body": f"comment {ident}",
                    "createdAt": github_time(3 + n * 0.1),
                    "updatedAt": github_time(3 + n * 0.1),
                }
                for n, ident in enumerate(comments)
            ]
        ),
        "reviewThreads": _connection([]),
    }
