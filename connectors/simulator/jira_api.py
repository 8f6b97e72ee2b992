"""Jira Cloud REST v3 / Agile / dev-status (and Server/DC `/rest/api/2/search`) for one site."""

from __future__ import annotations

import base64
import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connectors.simulator.jira_issues import JiraSite
from connectors.simulator.jira_render import (
    FieldSelection,
    changelog_page,
    dev_status,
    issue_json,
    parse_fields,
)
from connectors.simulator.jira_schema import ISSUE_TYPES
from connectors.simulator.jira_search import IssueSearch, Resolved
from connectors.simulator.jql import JqlQuery, parse_jql
from connectors.simulator.overlay import Overlay
from connectors.simulator.protocol import (
    BadRequest,
    SimRequest,
    SimResponse,
    int_param,
    jira_error,
    json_response,
)

SEARCH_CAP = 100
ID_SEARCH_CAP = 5000
PAGE_CAP = 50  # projects, boards, sprints
CHANGELOG_CAP = 100
BULK_ISSUES_CAP = 1000
BULK_HISTORIES_CAP = 1000


@dataclass(slots=True)
class JiraContext:
    site: JiraSite
    search: IssueSearch
    overlay: Overlay
    base: str  # the site's URL as the client sees it
    email: str

    def lookup(self, ref: str) -> int | None:
        """The index of a live issue (None when unknown or deleted)."""
        i = self.site.index_of(ref)
        return None if i is None or i in self.overlay.deleted else i

    def updated(self, i: int) -> int:
        return self.overlay.updated(i, self.site.updated_ms(i))

    def issue(self, i: int, selection: FieldSelection, changelog: bool, api: str = "3") -> Any:
        return issue_json(
            self.site,
            i,
            self.base,
            selection,
            changelog=changelog,
            updated_ms=self.updated(i),
            deleted=self.overlay.deleted,
            api=api,
        )


Handler = Callable[[JiraContext, SimRequest, re.Match[str]], SimResponse]


def _params(req: SimRequest) -> dict[str, Any]:
    """POST bodies and GET query strings carry the same parameters."""
    if req.method == "POST":
        body = req.json()
        if not isinstance(body, dict):
            raise BadRequest("request body must be a JSON object")
        return body
    return dict(req.query)


def _cap(value: Any, default: int, cap: int, name: str = "maxResults") -> int:
    return max(1, min(cap, int_param(value, default, name)))


def _wants_changelog(expand: Any) -> bool:
    if isinstance(expand, list):
        return "changelog" in expand
    return isinstance(expand, str) and "changelog" in expand.split(",")


def _paged(values: list[Any], start: int, limit: int, base_url: str, **extra: Any) -> SimResponse:
    page = values[start : start + limit]
    last = start + len(page) >= len(values)
    out: dict[str, Any] = {
        "self": f"{base_url}?startAt={start}&maxResults={limit}",
        **extra,
        "maxResults": limit,
        "startAt": start,
        "total": len(values),
        "isLast": last,
        "values": page,
    }
    if not last:
        out["nextPage"] = f"{base_url}?startAt={start + limit}&maxResults={limit}"
    return json_response(out)


def myself(ctx: JiraContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    account = f"sim:{zlib.crc32(ctx.email.encode()):08x}"
    return json_response(
        {
            "self": f"{ctx.base}/rest/api/3/user?accountId={account}",
            "accountId": account,
            "accountType": "atlassian",
            "emailAddress": ctx.email,
            "displayName": "Pulse Sync",
            "active": True,
            "timeZone": ctx.site.tz_name,
            "locale": "en_US",
        }
    )


def fields(ctx: JiraContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    return json_response(ctx.site.fields())


def issue_types(ctx: JiraContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    return json_response([ctx.site.issue_type(t, ctx.base) for t in range(len(ISSUE_TYPES))])


def project_search(ctx: JiraContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    start = int_param(req.query.get("startAt"), 0, "startAt")
    limit = _cap(req.query.get("maxResults"), PAGE_CAP, PAGE_CAP)
    expand = "issueTypes" in str(req.query.get("expand", "")).split(",")
    values = [ctx.site.project(p, ctx.base, expand) for p in ctx.site.projects]
    return _paged(values, start, limit, f"{ctx.base}/rest/api/3/project/search")


def project_list(ctx: JiraContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    """Server/DC `GET /project`: every project in one unpaged list."""
    expand = "issueTypes" in str(req.query.get("expand", "")).split(",")
    return json_response([ctx.site.project(p, ctx.base, expand) for p in ctx.site.projects])


def project_statuses(ctx: JiraContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    project = ctx.site.project_by_ref.get(m["ref"].upper())
    if project is None:
        return jira_error(404, f"No project could be found with key '{m['ref']}'.")
    return json_response(ctx.site.project_statuses(project, ctx.base))


def _query(ctx: JiraContext, params: dict[str, Any]) -> tuple[Resolved, JqlQuery]:
    text = params.get("jql") or ""
    if not isinstance(text, str):
        raise BadRequest("'jql' must be a string")
    query = parse_jql(text)
    return ctx.search.resolve(query, text), query


def search_jql(ctx: JiraContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    params = _params(req)
    resolved, query = _query(ctx, params)
    if not query.bounded:
        raise BadRequest(
            "Unbounded JQL queries are not allowed here. Please add a search "
            "restriction to your query."
        )
    selection = parse_fields(params.get("fields"), default_all=False)
    cap = ID_SEARCH_CAP if selection.id_only else SEARCH_CAP
    limit = _cap(params.get("maxResults"), 50, cap)
    token = params.get("nextPageToken") or None
    indexes, next_token = ctx.search.page_after(resolved, token, limit)
    changelog = _wants_changelog(params.get("expand"))
    out: dict[str, Any] = {"issues": [ctx.issue(i, selection, changelog) for i in indexes]}
    if next_token is not None:
        out["nextPageToken"] = next_token
    out["isLast"] = next_token is None
    return json_response(out)


def approximate_count(ctx: JiraContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    resolved, _ = _query(ctx, _params(req))
    return json_response({"count": ctx.search.count(resolved)})


def search_v2(ctx: JiraContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    params = _params(req)
    resolved, _ = _query(ctx, params)
    start = int_param(params.get("startAt"), 0, "startAt")
    limit = _cap(params.get("maxResults"), 50, SEARCH_CAP)
    selection = parse_fields(params.get("fields"), default_all=True)
    changelog = _wants_changelog(params.get("expand"))
    indexes = ctx.search.page_at(resolved, start, limit)
    return json_response(
        {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": limit,
            "total": ctx.search.count(resolved),
            "issues": [ctx.issue(i, selection, changelog, api="2") for i in indexes],
        }
    )


def issue(ctx: JiraContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    i = ctx.lookup(m["ref"])
    if i is None:
        return _no_issue()
    selection = parse_fields(req.query.get("fields"), default_all=True)
    return json_response(
        ctx.issue(i, selection, _wants_changelog(req.query.get("expand")), api=m["v"])
    )


def issue_changelog(ctx: JiraContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    i = ctx.lookup(m["ref"])
    if i is None:
        return _no_issue()
    start = int_param(req.query.get("startAt"), 0, "startAt")
    limit = _cap(req.query.get("maxResults"), CHANGELOG_CAP, CHANGELOG_CAP)
    return json_response(changelog_page(ctx.site, i, ctx.base, start, limit))


def bulkfetch(ctx: JiraContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    params = _params(req)
    refs = params.get("issueIdsOrKeys")
    if not isinstance(refs, list) or not refs:
        raise BadRequest("issueIdsOrKeys must be a non-empty list")
    if len(refs) > BULK_ISSUES_CAP:
        raise BadRequest(f"issueIdsOrKeys must contain at most {BULK_ISSUES_CAP} issues")
    limit = _cap(params.get("maxResults"), BULK_HISTORIES_CAP, BULK_HISTORIES_CAP)
    wanted_fields = params.get("fieldIds")
    fields_set = set(wanted_fields) if isinstance(wanted_fields, list) and wanted_fields else None
    signature = zlib.crc32(json.dumps([refs, wanted_fields]).encode())
    position, offset = _bulk_token(params.get("nextPageToken"), signature)
    logs: list[dict[str, Any]] = []
    budget = limit
    while position < len(refs) and budget > 0:
        i = ctx.lookup(str(refs[position]))
        histories = (
            [] if i is None else _filtered(ctx.site.rendered_histories(i, ctx.base), fields_set)
        )
        chunk = histories[offset : offset + budget]
        if chunk and i is not None:
            logs.append({"issueId": ctx.site.issue_id(i), "changeHistories": chunk})
        budget -= len(chunk)
        offset += len(chunk)
        if offset >= len(histories):
            position, offset = position + 1, 0
    while position < len(refs):  # do not end on a token whose remaining issues have nothing
        i = ctx.lookup(str(refs[position]))
        if i is not None and offset < len(
            _filtered(ctx.site.rendered_histories(i, ctx.base), fields_set)
        ):
            break
        position, offset = position + 1, 0
    out: dict[str, Any] = {"issueChangeLogs": logs}
    if position < len(refs):
        raw = json.dumps([position, offset, signature]).encode()
        out["nextPageToken"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return json_response(out)


def _bulk_token(token: Any, signature: int) -> tuple[int, int]:
    if not token:
        return 0, 0
    try:
        raw = base64.urlsafe_b64decode(str(token) + "=" * (-len(str(token)) % 4))
        position, offset, sig = json.loads(raw)
        if sig == signature:
            return int(position), int(offset)
    except (ValueError, TypeError):
        pass
    raise BadRequest("The provided next page token is invalid or expired.")


def _filtered(histories: tuple[dict[str, Any], ...], fields_set: set[str] | None) -> list[Any]:
    if fields_set is None:
        return list(histories)
    out = []
    for history in histories:
        items = [it for it in history["items"] if it.get("fieldId", it["field"]) in fields_set]
        if items:
            out.append({**history, "items": items})
    return out


def boards(ctx: JiraContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    start = int_param(req.query.get("startAt"), 0, "startAt")
    limit = _cap(req.query.get("maxResults"), PAGE_CAP, PAGE_CAP)
    values = ctx.site.boards(ctx.base)
    project = str(req.query.get("projectKeyOrId", "")).upper()
    if project:
        values = [
            b
            for b in values
            if project in (b["location"]["projectKey"], str(b["location"]["projectId"]))
        ]
    if req.query.get("type"):
        values = [b for b in values if b["type"] in str(req.query["type"]).split(",")]
    return _paged(values, start, limit, f"{ctx.base}/rest/agile/1.0/board")


def board_sprints(ctx: JiraContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    board_id = int(m["board"])
    site = ctx.site
    if board_id == site.kanban_board_id:
        return jira_error(400, "The board does not support sprints")
    if not 1 <= board_id <= len(site.projects):
        return jira_error(404, "Board does not exist or you do not have permission to see it.")
    start = int_param(req.query.get("startAt"), 0, "startAt")
    limit = _cap(req.query.get("maxResults"), PAGE_CAP, PAGE_CAP)
    sprints = [site.sprint(board_id, s) for s in range(site.sprints_per_board)]
    states = str(req.query.get("state") or "").split(",")
    if states != [""]:
        sprints = [s for s in sprints if s.state in states]
    page = sprints[start : start + limit]
    return json_response(
        {
            "maxResults": limit,
            "startAt": start,
            "isLast": start + len(page) >= len(sprints),
            "values": [site.sprint_json(s, ctx.base) for s in page],
        }
    )


def development(ctx: JiraContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    ref = str(req.query.get("issueId", ""))
    if not ref.isdigit():
        raise BadRequest("issueId is required and must be a numeric issue id")
    i = ctx.lookup(ref)
    if i is None:
        return _no_issue()
    return json_response(dev_status(ctx.site, i, str(req.query.get("dataType", "pullrequest"))))


def _no_issue() -> SimResponse:
    return jira_error(404, "Issue does not exist or you do not have permission to see it.")


# (methods, pattern over the path after /jira/<site>, endpoint name, handler)
ROUTES: tuple[tuple[frozenset[str], re.Pattern[str], str, Handler], ...] = tuple(
    (frozenset(methods.split(",")), re.compile(pattern + r"/?$"), name, handler)
    for methods, pattern, name, handler in (
        ("GET", r"/rest/api/[23]/myself", "jira.myself", myself),
        ("GET", r"/rest/api/[23]/field", "jira.field", fields),
        ("GET", r"/rest/api/3/project/search", "jira.project_search", project_search),
        ("GET", r"/rest/api/[23]/project", "jira.project_list", project_list),
        ("GET", r"/rest/api/[23]/issuetype", "jira.issuetype", issue_types),
        (
            "GET",
            r"/rest/api/[23]/project/(?P<ref>[^/]+)/statuses",
            "jira.project_statuses",
            project_statuses,
        ),
        ("GET,POST", r"/rest/api/3/search/jql", "jira.search_jql", search_jql),
        (
            "POST",
            r"/rest/api/3/search/approximate-count",
            "jira.approximate_count",
            approximate_count,
        ),
        ("GET,POST", r"/rest/api/2/search", "jira.search_v2", search_v2),
        (
            "GET",
            r"/rest/api/[23]/issue/(?P<ref>[^/]+)/changelog",
            "jira.issue_changelog",
            issue_changelog,
        ),
        ("GET", r"/rest/api/(?P<v>[23])/issue/(?P<ref>[^/]+)", "jira.issue", issue),
        ("POST", r"/rest/api/3/changelog/bulkfetch", "jira.changelog_bulkfetch", bulkfetch),
        ("GET", r"/rest/agile/1\.0/board", "jira.boards", boards),
        (
            "GET",
            r"/rest/agile/1\.0/board/(?P<board>\d+)/sprint",
            "jira.board_sprints",
            board_sprints,
        ),
        ("GET", r"/rest/dev-status/(?:latest|1\.0)/issue/detail", "jira.dev_status", development),
    )
)


def route(method: str, subpath: str) -> tuple[str, Handler | None, re.Match[str] | None, bool]:
    """(endpoint name, handler, match, method allowed); unknown paths are `jira.unknown`."""
    for methods, pattern, name, handler in ROUTES:
        match = pattern.match(subpath)
        if match is not None:
            return name, handler, match, method in methods
    return "jira.unknown", None, None, False
