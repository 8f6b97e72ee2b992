"""Catalog streams: fields, projects, issue types, statuses, boards and sprints.

They have no updated timestamp, so every run reads them whole and the item version is the page's
fetch time (storage keeps a fetch only when its content changed). The worker may skip them on
incremental runs (`build_streams(refresh_catalog=False)`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from connectors.base import Cursor, Page, RawItem, StreamKey
from connectors.jira.site import SiteContext
from connectors.paginators import OffsetPaginator
from pulse.errors import RetriableError, SkippableError

logger = logging.getLogger(__name__)

SITE = "site"
_CATALOG_PAGE = 50


def catalog_item(entity: str, external_id: Any, payload: dict[str, Any], version: str) -> RawItem:
    return RawItem(entity, str(external_id), version, payload)


def _expect_list(body: Any, what: str, context: SiteContext) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise RetriableError(
            f"Jira {what} answer is not a list", integration=context.api.http.integration
        )
    return body


class FieldStream:
    """`jira.field`: the field catalog (one request); also feeds the issue stream's field list."""

    def __init__(self, context: SiteContext) -> None:
        self.key = StreamKey(SITE, "jira.field")
        self._context = context

    def fetch_page(self, cursor: Cursor | None) -> Page:
        result = self._context.api.fields()
        version = self._context.fetch_version()
        fields = _expect_list(result.body, "field catalog", self._context)
        self._context.remember_catalog(fields)
        items = [catalog_item(self.key.entity, f["id"], f, version) for f in fields if "id" in f]
        return Page(items, None, total=len(items), requests=result.attempts)


class IssueTypeStream:
    def __init__(self, context: SiteContext) -> None:
        self.key = StreamKey(SITE, "jira.issue_type")
        self._context = context

    def fetch_page(self, cursor: Cursor | None) -> Page:
        result = self._context.api.issue_types()
        version = self._context.fetch_version()
        types = _expect_list(result.body, "issue type list", self._context)
        items = [catalog_item(self.key.entity, t["id"], t, version) for t in types if "id" in t]
        return Page(items, None, total=len(items), requests=result.attempts)


class ProjectStream:
    """`jira.project`: the configured projects (with their issue types)."""

    def __init__(self, context: SiteContext) -> None:
        self.key = StreamKey(SITE, "jira.project")
        self._context = context
        self._paginator = OffsetPaginator(_CATALOG_PAGE)

    def fetch_page(self, cursor: Cursor | None) -> Page:
        api = self._context.api
        result = api.projects(self._paginator.request(cursor))
        version = self._context.fetch_version()
        body = result.body
        total: int | None
        if isinstance(body, list):  # Server/DC: every project in one answer
            projects, following, total = body, None, len(body)
        else:
            body = body or {}
            projects = body.get("values") or []
            following = self._paginator.advance(cursor, body)
            total = body.get("total")
        wanted = set(api.settings.projects)
        items = [
            catalog_item(self.key.entity, p["id"], p, version)
            for p in projects
            if p.get("key") in wanted
        ]
        return Page(items, following, total=total, requests=result.attempts)


class StatusStream:
    """`jira.status`: one item per status per configured project, one project per page."""

    def __init__(self, context: SiteContext) -> None:
        self.key = StreamKey(SITE, "jira.status")
        self._context = context

    def fetch_page(self, cursor: Cursor | None) -> Page:
        projects = self._context.api.settings.projects
        index = int((cursor or {}).get("index", 0))
        project = projects[index]
        following = {"index": index + 1} if index + 1 < len(projects) else None
        try:
            result = self._context.api.project_statuses(project)
        except SkippableError as exc:
            logger.warning("Jira project %s has no statuses to read: %s", project, exc)
            return Page([], following, requests=int(exc.context.get("attempts", 1)))
        version = self._context.fetch_version()
        statuses: dict[str, dict[str, Any]] = {}
        for issue_type in _expect_list(result.body, "status list", self._context):
            for status in issue_type.get("statuses") or []:
                entry = statuses.setdefault(
                    str(status["id"]), {**status, "projectKey": project, "issueTypeIds": []}
                )
                entry["issueTypeIds"].append(str(issue_type.get("id")))
        items = [
            catalog_item(self.key.entity, f"{project}:{ident}", status, version)
            for ident, status in statuses.items()
        ]
        return Page(items, following, requests=result.attempts)


def _board_in_scope(board: Mapping[str, Any], projects: set[str]) -> bool:
    return (board.get("location") or {}).get("projectKey") in projects


class BoardStream:
    """`jira.board`: boards located in the configured projects."""

    def __init__(self, context: SiteContext) -> None:
        self.key = StreamKey(SITE, "jira.board")
        self._context = context
        self._paginator = OffsetPaginator(_CATALOG_PAGE)
        self._seen: list[int] | None = None

    def fetch_page(self, cursor: Cursor | None) -> Page:
        if cursor is None:
            self._seen = []  # only a run read from its first page knows every board
        result = self._context.api.boards(self._paginator.request(cursor))
        version = self._context.fetch_version()
        body = result.body or {}
        projects = set(self._context.api.settings.projects)
        boards = [b for b in body.get("values") or [] if _board_in_scope(b, projects)]
        following = self._paginator.advance(cursor, body)
        if self._seen is not None:
            # Kanban boards answer 400 to a sprint listing: keep them out of the sprint stream.
            self._seen.extend(int(b["id"]) for b in boards if b.get("type") != "kanban")
            if following is None:
                self._context.board_ids = list(self._seen)
        items = [catalog_item(self.key.entity, b["id"], b, version) for b in boards]
        return Page(items, following, total=body.get("total"), requests=result.attempts)


class SprintStream:
    """`jira.sprint`: the sprints of every scrum board. Membership comes from the issues' sprint
    field, so there are no per-sprint issue requests."""

    def __init__(self, context: SiteContext) -> None:
        self.key = StreamKey(SITE, "jira.sprint")
        self._context = context
        self._paginator = OffsetPaginator(_CATALOG_PAGE)

    def fetch_page(self, cursor: Cursor | None) -> Page:
        spent = 0
        if cursor is None:
            boards = self._context.board_ids
            if boards is None:
                boards, spent = self._list_boards()
            cursor = {"boards": boards, "index": 0, "position": None}
        boards, index = list(cursor["boards"]), int(cursor["index"])
        if index >= len(boards):
            return Page([], None, requests=spent)
        try:
            result = self._context.api.sprints(
                boards[index], self._paginator.request(cursor.get("position"))
            )
        except SkippableError as exc:
            logger.warning("Jira board %s is gone; skipping its sprints: %s", boards[index], exc)
            spent += int(exc.context.get("attempts", 1))
            return Page([], self._next(boards, index, None), requests=spent)
        body = result.body or {}
        version = self._context.fetch_version()
        items = [
            catalog_item(self.key.entity, s["id"], s, version) for s in body.get("values") or []
        ]
        position = self._paginator.advance(cursor.get("position"), body)
        return Page(items, self._next(boards, index, position), requests=spent + result.attempts)

    @staticmethod
    def _next(boards: list[int], index: int, position: dict[str, Any] | None) -> Cursor | None:
        if position is not None:
            return {"boards": boards, "index": index, "position": position}
        if index + 1 < len(boards):
            return {"boards": boards, "index": index + 1, "position": None}
        return None

    def _list_boards(self) -> tuple[list[int], int]:
        projects = set(self._context.api.settings.projects)
        boards: list[int] = []
        spent = 0
        position: dict[str, Any] | None = None
        while True:
            result = self._context.api.boards(self._paginator.request(position))
            spent += result.attempts
            body = result.body or {}
            boards.extend(
                int(b["id"])
                for b in body.get("values") or []
                if _board_in_scope(b, projects) and b.get("type") != "kanban"
            )
            position = self._paginator.advance(position, body)
            if position is None:
                return boards, spent
