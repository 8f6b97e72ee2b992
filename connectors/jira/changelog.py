"""Changelog overflow: the search embeds at most 100 histories per issue; fetch and merge the rest.

Cloud fetches every truncated issue of a page with ONE `changelog/bulkfetch` call (following its
`nextPageToken`); Server/DC pages the per-issue endpoint. The merged issue carries its complete
changelog, histories newest first as Jira embeds them, so a `RawItem` never depends on a second
record and a merged issue looks like one that was never truncated.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from connectors.jira.client import MAX_BULK_CHANGELOG_ISSUES, JiraApi
from connectors.paginators import OffsetPaginator, TokenPaginator
from connectors.records import parse_timestamp
from pulse.errors import SkippableError

logger = logging.getLogger(__name__)

_PER_ISSUE_PAGE = 100


def is_truncated(issue: Mapping[str, Any]) -> bool:
    changelog = issue.get("changelog")
    if not isinstance(changelog, dict):
        return False
    total = changelog.get("total")
    return isinstance(total, int) and total > len(changelog.get("histories") or [])


def merge_changelog(issue: Mapping[str, Any], histories: Iterable[Mapping[str, Any]]) -> dict:
    """A copy of `issue` whose changelog holds the union of embedded and fetched histories."""
    changelog = dict(issue.get("changelog") or {})
    by_id: dict[str, Mapping[str, Any]] = {}
    anonymous: list[Mapping[str, Any]] = []
    for history in [*(changelog.get("histories") or []), *histories]:
        ident = history.get("id")
        if ident is None:
            anonymous.append(history)
        else:
            by_id[str(ident)] = history
    merged = sorted([*by_id.values(), *anonymous], key=_history_order, reverse=True)
    declared = changelog.get("total")
    if isinstance(declared, int) and len(merged) < declared:
        logger.warning(
            "Jira issue %s: changelog declares %d histories, %d were returned",
            issue.get("key") or issue.get("id"),
            declared,
            len(merged),
        )
    changelog.update(startAt=0, maxResults=len(merged), total=len(merged), histories=merged)
    return {**issue, "changelog": changelog}


def complete_changelogs(api: JiraApi, issues: list[dict[str, Any]]) -> tuple[list[dict], int]:
    """Return the issues with complete changelogs and the number of requests it cost."""
    truncated = [str(issue["id"]) for issue in issues if is_truncated(issue)]
    if not truncated:
        return issues, 0
    if api.cloud:
        fetched, spent = _bulk_fetch(api, truncated)
    else:
        fetched, spent = _per_issue_fetch(api, truncated)
    completed = [
        merge_changelog(issue, fetched.get(str(issue["id"]), [])) if is_truncated(issue) else issue
        for issue in issues
    ]
    return completed, spent


def _bulk_fetch(api: JiraApi, issue_ids: list[str]) -> tuple[dict[str, list[dict]], int]:
    histories: dict[str, list[dict]] = {}
    spent = 0
    paginator = TokenPaginator(0)
    for start in range(0, len(issue_ids), MAX_BULK_CHANGELOG_ISSUES):
        batch = issue_ids[start : start + MAX_BULK_CHANGELOG_ISSUES]
        position: dict[str, Any] | None = None
        while True:
            result = api.changelog_bulk(batch, (position or {}).get("token"))
            spent += result.attempts
            body = result.body or {}
            for log in body.get("issueChangeLogs") or []:
                histories.setdefault(str(log.get("issueId")), []).extend(
                    log.get("changeHistories") or []
                )
            position = paginator.advance(position, body)
            if position is None:
                break
    return histories, spent


def _per_issue_fetch(api: JiraApi, issue_ids: list[str]) -> tuple[dict[str, list[dict]], int]:
    histories: dict[str, list[dict]] = {}
    spent = 0
    paginator = OffsetPaginator(_PER_ISSUE_PAGE)
    for issue_id in issue_ids:
        position: dict[str, Any] | None = None
        while True:
            try:
                result = api.issue_changelog(issue_id, paginator.request(position))
            except SkippableError as exc:
                # Deleted since the search answered: keep what the search embedded.
                spent += int(exc.context.get("attempts", 1))
                logger.warning("Jira issue %s changelog is gone: %s", issue_id, exc)
                break
            spent += result.attempts
            body = result.body or {}
            histories.setdefault(issue_id, []).extend(body.get("values") or [])
            position = paginator.advance(position, body)
            if position is None:
                break
    return histories, spent


def _history_order(history: Mapping[str, Any]) -> tuple[str, int, str]:
    created = history.get("created")
    when = parse_timestamp(created).isoformat() if isinstance(created, str) else ""
    ident = str(history.get("id", ""))
    return (when, int(ident) if ident.isdigit() else 0, ident)
