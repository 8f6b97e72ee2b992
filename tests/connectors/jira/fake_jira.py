"""A small in-memory Jira for unit tests, served through httpx.MockTransport.

It understands just the JQL the connector sends (project list, `updated >=` in the user's time
zone, ORDER BY updated|key) and pages like the real API; the full-featured simulator lives in
connectors/simulator and is used by the contract suite.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from connectors.records import parse_timestamp
from tests.connectors.fakes import Recorder, body_of

_SINCE = re.compile(r'updated >= "(\d{4}-\d\d-\d\d \d\d:\d\d)"')
_PROJECTS = re.compile(r"project (?:= (\w+)|in \(([^)]*)\))")


class FakeJira:
    def __init__(
        self,
        issues: list[dict[str, Any]],
        *,
        time_zone: str = "Asia/Shanghai",
        fields: list[dict[str, Any]] | None = None,
    ) -> None:
        self.issues = [copy.deepcopy(i) for i in issues]
        self.time_zone = time_zone
        self.fields = fields or []
        self.projects: list[dict[str, Any]] = []
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        self.boards: list[dict[str, Any]] = []
        self.sprints: dict[int, list[dict[str, Any]]] = {}
        self.full_changelogs: dict[str, list[dict[str, Any]]] = {}
        self.dev_status: dict[str, dict[str, Any]] = {}
        self.issue_types: list[dict[str, Any]] = []
        self.recorder = Recorder(self.handle)

    @property
    def transport(self) -> httpx.MockTransport:
        return self.recorder.transport

    @property
    def requests(self) -> list[httpx.Request]:
        return self.recorder.requests

    # -- routing -------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        params = request.url.params
        if not request.headers.get("Authorization", "").startswith("Basic "):
            return httpx.Response(401, json={"errorMessages": ["unauthenticated"]})
        api = r"/rest/api/[23]"
        routes: list[tuple[str, str, Any]] = [
            (
                "GET",
                rf"{api}/myself",
                lambda: {"accountId": "a1", "displayName": "Ann", "timeZone": self.time_zone},
            ),
            ("GET", rf"{api}/field", lambda: self.fields),
            ("GET", rf"{api}/issuetype", lambda: self.issue_types),
            ("GET", rf"{api}/project/search", lambda: self._offset(self.projects, params)),
            ("GET", rf"{api}/project", lambda: self.projects),
            ("POST", rf"{api}/search/jql", lambda: self._search_cloud(body_of(request))),
            (
                "POST",
                rf"{api}/search/approximate-count",
                lambda: {"count": len(self._matching(body_of(request)["jql"]))},
            ),
            ("POST", rf"{api}/search", lambda: self._search_server(body_of(request))),
            ("POST", rf"{api}/changelog/bulkfetch", lambda: self._bulk(body_of(request))),
            ("GET", r"/rest/agile/1\.0/board", lambda: self._offset(self.boards, params)),
        ]
        for method, pattern, answer in routes:
            if request.method == method and re.fullmatch(pattern, path):
                return httpx.Response(200, json=answer())
        if match := re.fullmatch(rf"{api}/project/(\w+)/statuses", path):
            if match[1] not in self.statuses:
                return httpx.Response(404, json={"errorMessages": ["No project"]})
            return httpx.Response(200, json=self.statuses[match[1]])
        if match := re.fullmatch(rf"{api}/issue/(\w+)/changelog", path):
            histories = self.full_changelogs.get(match[1], [])
            return httpx.Response(200, json=self._offset(histories, params))
        if match := re.fullmatch(r"/rest/agile/1\.0/board/(\d+)/sprint", path):
            return httpx.Response(
                200, json=self._offset(self.sprints.get(int(match[1]), []), params)
            )
        if path == "/rest/dev-status/latest/issue/detail":
            detail = self.dev_status.get(params["issueId"])
            if detail is None:
                return httpx.Response(404, json={"errorMessages": ["no issue"]})
            return httpx.Response(200, json=detail)
        return httpx.Response(404, json={"errorMessages": [f"no route {path}"]})

    # -- behaviour -----------------------------------------------------------------------
    def _matching(self, jql: str) -> list[dict[str, Any]]:
        match = _PROJECTS.search(jql)
        assert match, jql
        keys = {match[1]} if match[1] else {k.strip() for k in match[2].split(",")}
        chosen = [i for i in self.issues if i["fields"]["project"]["key"] in keys]
        if since := _SINCE.search(jql):
            local = datetime.strptime(since[1], "%Y-%m-%d %H:%M").replace(
                tzinfo=ZoneInfo(self.time_zone)
            )
            chosen = [i for i in chosen if parse_timestamp(i["fields"]["updated"]) >= local]
        if jql.endswith("ORDER BY key ASC"):
            return sorted(
                chosen, key=lambda i: (i["key"].split("-")[0], int(i["key"].split("-")[1]))
            )
        return sorted(chosen, key=lambda i: (parse_timestamp(i["fields"]["updated"]), i["id"]))

    def _shape(self, issue: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        fields = body.get("fields") or []
        shaped = {
            "id": issue["id"],
            "key": issue["key"],
            "fields": {k: v for k, v in issue["fields"].items() if k in fields},
        }
        if body.get("expand") in ("changelog", ["changelog"]) and "changelog" in issue:
            shaped["changelog"] = issue["changelog"]
        return shaped

    def _search_cloud(self, body: dict[str, Any]) -> dict[str, Any]:
        issues = self._matching(body["jql"])
        start = int(body.get("nextPageToken", "o:0")[2:])
        size = min(body["maxResults"], 5000 if body.get("fields") == ["id"] else 100)
        page = issues[start : start + size]
        answer: dict[str, Any] = {
            "issues": [self._shape(i, body) for i in page],
            "isLast": start + size >= len(issues),
        }
        if not answer["isLast"]:
            answer["nextPageToken"] = f"o:{start + size}"
        return answer

    def _search_server(self, body: dict[str, Any]) -> dict[str, Any]:
        issues = self._matching(body["jql"])
        start, size = body["startAt"], min(body["maxResults"], 100)
        return {
            "startAt": start,
            "maxResults": size,
            "total": len(issues),
            "issues": [self._shape(i, body) for i in issues[start : start + size]],
        }

    def _bulk(self, body: dict[str, Any]) -> dict[str, Any]:
        # Page by histories: at most maxResults histories per answer, token = offset.
        flat = [(i, h) for i in body["issueIdsOrKeys"] for h in self.full_changelogs.get(i, [])]
        start = int(body.get("nextPageToken", "0"))
        page = flat[start : start + body["maxResults"]]
        logs: dict[str, list[dict[str, Any]]] = {}
        for issue_id, history in page:
            logs.setdefault(issue_id, []).append(history)
        answer: dict[str, Any] = {
            "issueChangeLogs": [{"issueId": k, "changeHistories": v} for k, v in logs.items()]
        }
        if start + len(page) < len(flat):
            answer["nextPageToken"] = str(start + len(page))
        return answer

    @staticmethod
    def _offset(values: list[Any], params: httpx.QueryParams) -> dict[str, Any]:
        start = int(params.get("startAt", 0))
        size = min(int(params.get("maxResults", 50)), 50)
        page = values[start : start + size]
        return {
            "startAt": start,
            "maxResults": size,
            "total": len(values),
            "isLast": start + size >= len(values),
            "values": page,
        }
