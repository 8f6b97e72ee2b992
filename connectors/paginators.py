"""Pagination as small objects.

A paginator turns a JSON-serialisable *position* (None: the first page) into request parameters
and, given the answer, computes the position of the next page (None: no more pages). Streams keep
the position in their cursor, so a restarted worker continues at exactly the next page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pulse.errors import FatalError

Position = dict[str, Any]


class Paginator(Protocol):
    def request(self, position: Mapping[str, Any] | None) -> dict[str, Any]: ...

    def advance(self, position: Mapping[str, Any] | None, answer: Any) -> Position | None: ...


class TokenPaginator:
    """Jira Cloud `nextPageToken` (issue search, changelog bulk fetch)."""

    def __init__(self, page_size: int, *, token_param: str = "nextPageToken") -> None:  # noqa: S107
        self.page_size = page_size
        self.token_param = token_param

    def request(self, position: Mapping[str, Any] | None) -> dict[str, Any]:
        params: dict[str, Any] = {"maxResults": self.page_size}
        if position and position.get("token"):
            params[self.token_param] = position["token"]
        return params

    def advance(self, position: Mapping[str, Any] | None, answer: Any) -> Position | None:
        token = answer.get(self.token_param)
        if answer.get("isLast") is True or not token:
            return None
        if position and position.get("token") == token:
            raise FatalError(
                "the source returned the same page token twice; stopping pagination",
                token_param=self.token_param,
            )
        return {"token": token}


class OffsetPaginator:
    """Jira `startAt`/`maxResults` with `isLast` or `total` (projects, boards, sprints, Server)."""

    def __init__(self, page_size: int, *, items_key: str = "values") -> None:
        self.page_size = page_size
        self.items_key = items_key

    def request(self, position: Mapping[str, Any] | None) -> dict[str, Any]:
        return {"startAt": int((position or {}).get("start_at", 0)), "maxResults": self.page_size}

    def advance(self, position: Mapping[str, Any] | None, answer: Any) -> Position | None:
        start = int(answer.get("startAt", (position or {}).get("start_at", 0)))
        count = len(answer.get(self.items_key) or [])
        if count == 0 or answer.get("isLast") is True:
            return None
        following = start + count
        total = answer.get("total")
        if answer.get("isLast") is False:
            return {"start_at": following}
        if isinstance(total, int):
            return {"start_at": following} if following < total else None
        # No isLast and no total: a short page is the last one. Servers may cap maxResults
        # below what we asked, so compare against what they say they used.
        limit = int(answer.get("maxResults") or self.page_size)
        return {"start_at": following} if count >= limit else None


class GraphQLCursorPaginator:
    """GitHub GraphQL connections: `first`/`after` with `pageInfo{hasNextPage endCursor}`."""

    def __init__(self, page_size: int) -> None:
        self.page_size = page_size

    def request(self, position: Mapping[str, Any] | None) -> dict[str, Any]:
        return {"first": self.page_size, "after": (position or {}).get("after")}

    def advance(self, position: Mapping[str, Any] | None, answer: Any) -> Position | None:
        """`answer` is the connection object (`{pageInfo, nodes}`)."""
        info = answer.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            return None
        after = info.get("endCursor")
        if not after or (position and position.get("after") == after):
            raise FatalError(
                "the source reported a next page without a new cursor", end_cursor=after
            )
        return {"after": after}
