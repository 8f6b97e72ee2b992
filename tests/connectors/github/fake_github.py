"""A small in-memory GitHub GraphQL API for unit tests (dispatches on `operationName`)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import httpx

from tests.connectors.fakes import Recorder, body_of

NESTED = ("commits", "reviews", "comments", "reviewThreads")
# One alias of a PullRequestNestedPages query: `n0: node(id: $i0) { ... on PullRequest {
# commits(first: 100, after: $a0) ...` or `reviewThreads(first: 1, after: $t0) { nodes { id
# comments(first: 100, after: $a0)`.
_ALIAS = re.compile(r"n(\d+): node\(id: \$i\d+\) \{ \.\.\. on PullRequest \{ (\w+)\(first: (\d+)")
RATE = {"cost": 1, "remaining": 4990, "resetAt": "2030-01-01T00:00:00Z", "limit": 5000}


def _slice(nodes: list[Any], first: int, after: str | None) -> dict[str, Any]:
    start = int(after[2:]) if after else 0
    page = nodes[start : start + first]
    end = start + len(page)
    return {
        "totalCount": len(nodes),
        "pageInfo": {"hasNextPage": end < len(nodes), "endCursor": f"c:{end}" if page else None},
        "nodes": page,
    }


class FakeGitHub:
    def __init__(self) -> None:
        self.repositories: list[dict[str, Any]] = []
        self.pull_requests: dict[str, list[dict[str, Any]]] = {}  # by nameWithOwner
        self.intercept: Callable[[dict[str, Any]], httpx.Response | None] | None = None
        self.recorder = Recorder(self.handle)

    @property
    def transport(self) -> httpx.MockTransport:
        return self.recorder.transport

    def operations(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (body_of(r)["operationName"], body_of(r)["variables"]) for r in self.recorder.requests
        ]

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not request.headers.get("Authorization", "").startswith("bearer "):
            return httpx.Response(401, json={"message": "Bad credentials"})
        assert request.url.path.endswith("/graphql"), request.url.path
        body = body_of(request)
        if self.intercept and (answer := self.intercept(body)) is not None:
            return answer
        data = self._data(body["operationName"], body["variables"], body["query"])
        data["rateLimit"] = RATE
        return httpx.Response(200, json={"data": data})

    def _data(self, operation: str, v: dict[str, Any], query: str) -> dict[str, Any]:
        if operation == "Viewer":
            return {"viewer": {"login": "octo"}}
        if operation == "OrgRepositories":
            return {
                "organization": {"repositories": _slice(self.repositories, v["first"], v["after"])}
            }
        if operation in ("RepoPullRequests", "RepoPullRequestIds"):
            repo = f"{v['owner']}/{v['name']}"
            if repo not in self.pull_requests:
                return {"repository": None}
            prs = sorted(self.pull_requests[repo], key=lambda p: p["updatedAt"], reverse=True)
            connection = _slice(prs, v["first"], v["after"])
            if operation == "RepoPullRequestIds":
                connection["nodes"] = [
                    {"id": p["id"], "number": p["number"]} for p in connection["nodes"]
                ]
            else:
                connection["nodes"] = [self._shape(p, v["nested"]) for p in connection["nodes"]]
            return {"repository": {"pullRequests": connection}}
        if operation == "PullRequestsByIds":
            by_id = {p["id"]: p for ps in self.pull_requests.values() for p in ps}
            return {
                "nodes": [
                    self._shape(by_id[i], v["nested"], v["threadComments"]) if i in by_id else None
                    for i in v["ids"]
                ]
            }
        if operation == "PullRequestNestedPages":
            return {
                f"n{k}": self._nested_page(name, int(first), v, k)
                for k, name, first in _ALIAS.findall(query)
            }
        raise AssertionError(f"unknown operation {operation}")

    def _pr(self, node_id: str) -> dict[str, Any]:
        return next(p for ps in self.pull_requests.values() for p in ps if p["id"] == node_id)

    def _nested_page(self, name: str, first: int, v: dict[str, Any], k: str) -> dict[str, Any]:
        pr = self._pr(v[f"i{k}"])
        if name == "reviewThreads" and first == 1:  # one thread, to page its comments
            threads = _slice(pr["reviewThreads"], 1, v.get(f"t{k}"))["nodes"]
            return {
                "reviewThreads": {
                    "nodes": [
                        {"id": t["id"], "comments": _slice(t["comments"], 100, v[f"a{k}"])}
                        for t in threads
                    ]
                }
            }
        connection = _slice(pr[name], first, v[f"a{k}"])
        if name == "reviewThreads":
            start = int(v[f"a{k}"][2:]) if v[f"a{k}"] else 0
            connection["edges"] = [
                {"cursor": f"c:{start + n + 1}"} for n in range(len(connection["nodes"]))
            ]
            connection["nodes"] = [self._thread(t, 50) for t in connection["nodes"]]
        return {name: connection}

    def _shape(
        self, pr: dict[str, Any], nested: int, thread_first: int | None = None
    ) -> dict[str, Any]:
        shaped = copy.deepcopy(pr)
        for name in NESTED:
            shaped[name] = _slice(pr[name], nested, None)
        threads = shaped["reviewThreads"]
        threads["edges"] = [{"cursor": f"c:{n + 1}"} for n in range(len(threads["nodes"]))]
        threads["nodes"] = [self._thread(t, thread_first or nested) for t in threads["nodes"]]
        return shaped

    @staticmethod
    def _thread(thread: dict[str, Any], first: int) -> dict[str, Any]:
        return {**thread, "comments": _slice(thread["comments"], first, None)}


def make_pr(
    n: int,
    updated: str,
    *,
    repo: str = "acme/api",
    commits: int = 1,
    threads: int = 0,
    thread_comments: int = 1,
) -> dict[str, Any]:
    return {
        "id": f"PR_{repo}_{n}",
        "number": n,
        "title": f"PR {n}",
        "url": f"https://github.com/{repo}/pull/{n}",
        "state": "OPEN",
        "updatedAt": updated,
        "createdAt": "2024-01-01T00:00:00Z",
        "repository": {"id": "R_1", "nameWithOwner": repo},
        "commits": [{"commit": {"oid": f"{n:04d}{c:036d}"}} for c in range(commits)],
        "reviews": [],
        "comments": [],
        "reviewThreads": [
            {
                "id": f"T_{n}_{t}",
                "path": "a.py",
                "line": t,
                "comments": [{"id": f"C_{n}_{t}_{c}", "body": "x"} for c in range(thread_comments)],
            }
            for t in range(threads)
        ],
    }


def make_repo(
    name: str,
    *,
    org: str = "acme",
    updated: str = "2024-02-01T00:00:00Z",
    pushed: str = "2024-02-02T00:00:00Z",
) -> dict[str, Any]:
    return {
        "id": f"R_{name}",
        "name": name,
        "nameWithOwner": f"{org}/{name}",
        "updatedAt": updated,
        "pushedAt": pushed,
        "isArchived": False,
    }
