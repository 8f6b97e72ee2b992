"""GitHub streams: `github.repository`, `github.pull_request` and `github.pull_request_id`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from connectors.base import Cursor, ExtractWindow, Page, RawItem, StreamKey
from connectors.github.client import MAX_PAGE, GitHubApi
from connectors.github.nested import (
    BATCH,
    SHRINK_ON,
    complete_pull_requests,
    needs_more,
    without_edges,
)
from connectors.paginators import GraphQLCursorPaginator
from connectors.records import fetch_version, parse_timestamp, utc_version
from connectors.windows import effective_since
from pulse.errors import RetriableError, SkippableError

logger = logging.getLogger(__name__)

# Heavy PR pages time out at GitHub's edge (502/504); halve the page down to this floor.
MIN_PAGE_SIZE = 5
_RECOVER_AFTER = 2  # successful pages before the page size doubles back
_SHRINK_ON = SHRINK_ON


def repository_scope(name_with_owner: str) -> str:
    return f"repo:{name_with_owner}"


def _connection(result_body: Any, *path: str) -> dict[str, Any] | None:
    node = (result_body or {}).get("data")
    for step in path:
        node = node.get(step) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


class RepositoryStream:
    """`github.repository`: the organization's repositories that match the patterns."""

    def __init__(self, api: GitHubApi, cache: dict[str | None, Any] | None = None) -> None:
        self.key = StreamKey(f"org:{api.settings.organization}", "github.repository")
        self._api = api
        self._paginator = GraphQLCursorPaginator(MAX_PAGE)
        self._cache = cache if cache is not None else {}  # pages read by `list_repositories`

    def fetch_page(self, cursor: Cursor | None) -> Page:
        after = (cursor or {}).get("after")
        spent = 0
        if after in self._cache:
            body = self._cache.pop(after)
        else:
            result = self._api.org_repositories(MAX_PAGE, after)
            body, spent = result.body, result.attempts
        connection = _connection(body, "organization", "repositories")
        if connection is None:
            raise RetriableError(
                f"{self._api.http.integration} answered without the organization's repositories",
                integration=self._api.http.integration,
            )
        items = [
            repository_item(node)
            for node in connection.get("nodes") or []
            if self._api.settings.wants(node.get("nameWithOwner", ""))
        ]
        following = self._paginator.advance(cursor, connection)
        return Page(
            items,
            following,
            total=connection.get("totalCount"),
            requests=spent,
            high_watermark=max((parse_timestamp(i.version) for i in items), default=None),
        )


def repository_item(node: Mapping[str, Any]) -> RawItem:
    # A push changes only pushedAt, so the newer of the two is the repository's version.
    stamps = [
        utc_version(node[k]) for k in ("updatedAt", "pushedAt") if isinstance(node.get(k), str)
    ]
    if not stamps or not node.get("id"):
        raise RetriableError(
            "GitHub repository came without its id or updatedAt", entity="github.repository"
        )
    return RawItem("github.repository", str(node["id"]), max(stamps), dict(node))


def pull_request_item(node: Mapping[str, Any]) -> RawItem:
    """A complete pull request; its node id is the external id (recorded payloads without an
    `id` fall back to the URL)."""
    ident = node.get("id") or node.get("url")
    updated = node.get("updatedAt")
    if not ident or not isinstance(updated, str):
        raise RetriableError(
            "GitHub pull request came without its id or updatedAt", entity="github.pull_request"
        )
    return RawItem("github.pull_request", str(ident), utc_version(updated), dict(node))


class PullRequestStream:
    """`github.pull_request` of one repository, most recently updated first.

    Stops at the first pull request updated before `since - overlap`. Pull requests whose nested
    connections overflow are not returned with their listing page: their ids wait in the cursor
    and are completed in one batch (`nested.complete_pull_requests`) when `BATCH` are waiting or
    the listing ends, so a whole repository's overflow typically costs three requests.

    The cursor holds the GraphQL end cursor, the waiting ids and the current page size (halved
    on 502/504, grown back after successful pages): a restarted worker resumes exactly.
    """

    def __init__(self, api: GitHubApi, repository: str, window: ExtractWindow) -> None:
        self.key = StreamKey(repository_scope(repository), "github.pull_request")
        self.repository = repository
        self._api = api
        self._window = window

    def fetch_page(self, cursor: Cursor | None) -> Page:
        settings = self._api.settings
        state: dict[str, Any] = (
            dict(cursor)
            if cursor
            else {"after": None, "size": settings.page_size, "streak": 0, "pending": []}
        )
        if "stop_before" not in state:
            since = effective_since(self._window, self.key.scope, settings.overlap_seconds)
            state["stop_before"] = since.isoformat() if since else None
        try:
            body, size, spent = self._fetch(state["after"], int(state["size"]))
        except SkippableError as exc:
            logger.warning(
                "GitHub repository %s is gone; no pull requests: %s", self.repository, exc
            )
            return Page([], None, requests=int(exc.context.get("attempts", 1)))
        connection = _connection(body, "repository", "pullRequests")
        if connection is None:
            raise RetriableError(
                f"{self._api.http.integration} answered without pull requests of "
                f"{self.repository!r}",
                integration=self._api.http.integration,
            )
        stop_before = parse_timestamp(state["stop_before"]) if state["stop_before"] else None
        items: list[RawItem] = []
        pending = list(state.get("pending") or [])
        reached_old = False
        for node in connection.get("nodes") or []:
            if stop_before and parse_timestamp(node["updatedAt"]) < stop_before:
                reached_old = True
                break
            if needs_more(node) and node.get("id"):
                pending.append(node["id"])
            else:
                items.append(pull_request_item(without_edges(node)))
        position = (
            None
            if reached_old
            else GraphQLCursorPaginator(size).advance(
                {"after": state["after"]} if state["after"] else None, connection
            )
        )
        if pending and (position is None or len(pending) >= BATCH):
            completed, cost = complete_pull_requests(self._api, list(dict.fromkeys(pending)))
            items += [pull_request_item(pr) for pr in completed]
            spent, pending = spent + cost, []
        following = None
        if position is not None:
            following = {
                **state,
                "after": position["after"],
                "pending": pending,
                **_grow(size, state, settings),
            }
        return Page(
            items,
            following,
            # The repository's count is this run's total only when reading everything.
            total=connection.get("totalCount") if stop_before is None else None,
            requests=spent,
            high_watermark=max((parse_timestamp(i.version) for i in items), default=None),
        )

    def _fetch(self, after: str | None, size: int) -> tuple[Any, int, int]:
        """One PR page; on 502/504 halve the page and try again, down to `MIN_PAGE_SIZE`."""
        spent = 0
        nested = self._api.settings.nested_page_size
        while True:
            floor = size <= MIN_PAGE_SIZE
            try:
                result = self._api.pull_requests(
                    self.repository, size, after, nested, fail_fast=() if floor else _SHRINK_ON
                )
            except RetriableError as exc:
                if floor or exc.context.get("status") not in _SHRINK_ON:
                    raise
                spent += int(exc.context.get("attempts", 1))
                size = max(MIN_PAGE_SIZE, size // 2)
                logger.warning(
                    "GitHub %s: heavy page failed (%s); page size now %d",
                    self.repository,
                    exc.context.get("status"),
                    size,
                )
                continue
            return result.body, size, spent + result.attempts


def _grow(size: int, state: Mapping[str, Any], settings: Any) -> dict[str, int]:
    """The next page's size: halved sizes double back after `_RECOVER_AFTER` good pages."""
    if size >= settings.page_size:
        return {"size": settings.page_size, "streak": 0}
    streak = int(state.get("streak", 0)) + 1 if size == int(state["size"]) else 1
    if streak >= _RECOVER_AFTER:
        return {"size": min(settings.page_size, size * 2), "streak": 0}
    return {"size": size, "streak": streak}


class PullRequestIdStream:
    """`github.pull_request_id`: every pull request node id of one repository (deletion sweep)."""

    def __init__(self, api: GitHubApi, repository: str) -> None:
        self.key = StreamKey(repository_scope(repository), "github.pull_request_id")
        self.repository = repository
        self._api = api
        self._paginator = GraphQLCursorPaginator(MAX_PAGE)

    def fetch_page(self, cursor: Cursor | None) -> Page:
        # A repository that is gone raises SkippableError to the worker: GitHub says NOT_FOUND
        # for lost access too, so an empty sweep must never be taken as "all deleted".
        result = self._api.pull_request_ids(self.repository, (cursor or {}).get("after"))
        connection = _connection(result.body, "repository", "pullRequests")
        if connection is None:
            raise RetriableError(
                f"{self._api.http.integration} answered without pull request ids of "
                f"{self.repository!r}",
                integration=self._api.http.integration,
            )
        version = fetch_version(self._api.http.now())
        items = [
            RawItem(
                self.key.entity,
                str(node["id"]),
                version,
                {"id": node["id"], "number": node.get("number")},
            )
            for node in connection.get("nodes") or []
        ]
        following = self._paginator.advance(cursor, connection)
        return Page(items, following, total=connection.get("totalCount"), requests=result.attempts)
