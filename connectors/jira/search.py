"""Paging an issue search: Cloud by `nextPageToken`, Server/DC by `startAt`.

Offsets shift when the result set changes under the paginator: an issue updated mid-run moves to
the end of an `ORDER BY updated` list and every later issue moves one place back, so a plain
offset would silently skip one. The Server path therefore re-reads the last issue of the previous
page (the *anchor*): when it is not where it should be, the rows moved, and one extra request
one page earlier recovers what would have been skipped (duplicates are harmless, gaps are not).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.jira.client import JiraApi
from connectors.paginators import TokenPaginator

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SearchPage:
    issues: list[dict[str, Any]]
    next_position: dict[str, Any] | None
    total: int | None
    requests: int


class IssueSearch:
    def __init__(self, api: JiraApi) -> None:
        self.api = api

    def fetch(
        self,
        jql: str,
        fields: Sequence[str],
        position: Mapping[str, Any] | None,
        *,
        page_size: int,
        changelog: bool = True,
    ) -> SearchPage:
        if self.api.cloud:
            return self._cloud(jql, fields, position, page_size, changelog)
        return self._server(jql, fields, position, page_size, changelog)

    def _cloud(
        self,
        jql: str,
        fields: Sequence[str],
        position: Mapping[str, Any] | None,
        page_size: int,
        changelog: bool,
    ) -> SearchPage:
        paginator = TokenPaginator(page_size)
        result = self.api.search(jql, fields, paginator.request(position), changelog=changelog)
        body = result.body or {}
        issues = list(body.get("issues") or [])
        following = paginator.advance(position, body) if issues else None
        return SearchPage(issues, following, None, result.attempts)

    def _server(
        self,
        jql: str,
        fields: Sequence[str],
        position: Mapping[str, Any] | None,
        page_size: int,
        changelog: bool,
    ) -> SearchPage:
        start = int((position or {}).get("start_at", 0))
        anchor = (position or {}).get("anchor")
        ask = start - 1 if anchor is not None and start > 0 else start
        result = self.api.search(
            jql, fields, {"startAt": ask, "maxResults": page_size}, changelog=changelog
        )
        spent = result.attempts
        body = result.body or {}
        page = list(body.get("issues") or [])
        total = body.get("total") if isinstance(body.get("total"), int) else None
        fresh = page
        if anchor is not None and start > 0:
            index = _index_of(page, anchor)
            if index is not None:
                fresh = page[index + 1 :]
            elif ask > 0:
                logger.warning(
                    "Jira search results shifted under the paginator at %d; re-reading one page "
                    "back",
                    ask,
                )
                earlier = self.api.search(
                    jql,
                    fields,
                    {"startAt": max(0, ask - page_size), "maxResults": page_size},
                    changelog=changelog,
                )
                spent += earlier.attempts
                before = list((earlier.body or {}).get("issues") or [])
                found = _index_of(before, anchor)
                fresh = _dedupe([*(before[found + 1 :] if found is not None else before), *page])
        end = ask + len(page)
        done = (
            not page
            or (total is not None and end >= total)
            or len(page) < int(body.get("maxResults") or page_size)
        )
        following = None if done else {"start_at": end, "anchor": str(page[-1]["id"])}
        return SearchPage(fresh, following, total, spent)


def _index_of(issues: list[dict[str, Any]], issue_id: str) -> int | None:
    for index, issue in enumerate(issues):
        if str(issue.get("id")) == issue_id:
            return index
    return None


def _dedupe(issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for issue in issues:
        seen[str(issue.get("id"))] = issue
    return list(seen.values())
