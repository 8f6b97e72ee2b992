"""Issue streams: `jira.issue` (incremental, complete changelogs), `jira.issue_id` (deletion sweep)
and `jira.dev_status` (pull requests linked to issues, opt-in)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from connectors.base import Cursor, ExtractWindow, Page, RawItem, StreamKey
from connectors.jira.changelog import complete_changelogs
from connectors.jira.client import MAX_ID_SEARCH_RESULTS
from connectors.jira.fields import FieldRoles, has_pull_requests
from connectors.jira.jql import build_jql
from connectors.jira.search import IssueSearch
from connectors.jira.site import SiteContext
from connectors.records import content_hash, parse_timestamp, utc_version
from connectors.windows import effective_since
from pulse.errors import RetriableError, SkippableError

logger = logging.getLogger(__name__)

_DEV_STATUS_BATCH = 20


def issue_item(issue: Mapping[str, Any]) -> RawItem:
    """A complete issue as a `RawItem`: id, and the updated time in UTC as its version."""
    updated = (issue.get("fields") or {}).get("updated")
    if not isinstance(updated, str):
        raise RetriableError(
            f"Jira issue {issue.get('key') or issue.get('id')!r} came without its updated time",
            entity="jira.issue",
        )
    return RawItem("jira.issue", str(issue["id"]), utc_version(updated), dict(issue))


def issue_scope(projects: Sequence[str], extra_jql: str | None) -> str:
    """The checkpoint scope of the issue streams. It names the project set (and a hash of the
    extra JQL), so changing either starts a fresh backfill instead of silently skipping the
    history of a newly included project."""
    scope = "projects:" + ",".join(sorted(projects))
    if extra_jql:
        scope += ";jql:" + content_hash(extra_jql)[7:15]
    return scope


class IssueStream:
    """`jira.issue`: issues updated since the watermark (minus overlap), oldest update first.

    The cursor holds the exact JQL and field list of the run plus the search position, so a
    restarted worker continues at the next page of the same query.
    """

    def __init__(self, context: SiteContext, window: ExtractWindow, scope: str) -> None:
        self.key = StreamKey(scope, "jira.issue")
        self._context = context
        self._window = window
        self._search = IssueSearch(context.api)

    def fetch_page(self, cursor: Cursor | None) -> Page:
        spent = 0
        state: dict[str, Any]
        if cursor is None:
            state, spent = self._start()
        else:
            state = dict(cursor)
        page = self._search.fetch(
            state["jql"], state["fields"], state.get("position"), page_size=int(state["page_size"])
        )
        issues, overflow = complete_changelogs(self._context.api, page.issues)
        roles = FieldRoles(development=tuple(state.get("dev_fields") or ()))
        for issue in issues:
            if has_pull_requests(issue, roles):
                self._context.dev_issue_ids.add(str(issue["id"]))
        items = [issue_item(issue) for issue in issues]
        following = (
            None if page.next_position is None else {**state, "position": page.next_position}
        )
        total = page.total if page.total is not None else state.get("total")
        return Page(
            items,
            following,
            total=total,
            requests=spent + page.requests + overflow,
            high_watermark=_newest(items),
        )

    def _start(self) -> tuple[dict[str, Any], int]:
        context = self._context
        settings = context.api.settings
        since = effective_since(self._window, self.key.scope, settings.overlap_seconds)
        backfill = since is None
        if since is None:
            since = settings.start_datetime
        spent = context.ensure(time_zone=since is not None)
        jql = build_jql(
            settings.projects,
            extra_jql=settings.extra_jql,
            updated_since=since,
            time_zone=context.time_zone,
        )
        assert context.roles is not None
        state: dict[str, Any] = {
            "jql": jql,
            "fields": context.roles.search_fields(),
            "dev_fields": list(context.roles.development),
            "position": None,
            "total": None,
            "page_size": settings.page_size,  # a resumed run keeps its page size
        }
        if backfill and context.api.cloud:
            # Cloud search pages carry no total; a full backfill is worth one count request.
            result = context.api.approximate_count(jql)
            spent += result.attempts
            count = (result.body or {}).get("count")
            state["total"] = count if isinstance(count, int) else None
        logger.info("Jira issue search: %s", jql, extra={"scope": self.key.scope})
        return state, spent


class IssueIdStream:
    """`jira.issue_id`: every issue id in scope (ids only, large pages), for deletion sweeps."""

    def __init__(self, context: SiteContext, scope: str) -> None:
        self.key = StreamKey(scope, "jira.issue_id")
        self._context = context
        api = context.api
        self._page_size = MAX_ID_SEARCH_RESULTS if api.cloud else api.settings.page_size
        self._search = IssueSearch(api)

    def fetch_page(self, cursor: Cursor | None) -> Page:
        settings = self._context.api.settings
        if cursor is None:
            jql = build_jql(settings.projects, extra_jql=settings.extra_jql, order="key")
            cursor = {"jql": jql, "position": None}
        page = self._search.fetch(
            cursor["jql"],
            ["id"],
            cursor.get("position"),
            page_size=self._page_size,
            changelog=False,
        )
        version = self._context.fetch_version()
        items = []
        for issue in page.issues:
            ident = str(issue["id"])
            payload = {"id": ident, "key": issue.get("key")}
            items.append(RawItem(self.key.entity, ident, version, payload))
        following = (
            None if page.next_position is None else {**cursor, "position": page.next_position}
        )
        return Page(items, following, total=page.total, requests=page.requests)


class DevStatusStream:
    """`jira.dev_status`: pull requests linked to issues, one request per issue that has them.

    The ids are those given to `build_streams`, else the issues with development data that the
    issue stream extracted in this process. They are copied into the cursor on the first page,
    so a resumed run works through exactly the same list.
    """

    def __init__(
        self, context: SiteContext, scope: str, issue_ids: Sequence[str] | None = None
    ) -> None:
        self.key = StreamKey(scope, "jira.dev_status")
        self._context = context
        self._issue_ids = issue_ids

    def fetch_page(self, cursor: Cursor | None) -> Page:
        if cursor is None:
            chosen = self._issue_ids if self._issue_ids is not None else self._context.dev_issue_ids
            ids = sorted({str(i) for i in chosen}, key=lambda i: (len(i), i))
            cursor = {"ids": ids, "index": 0}
        ids, index = list(cursor["ids"]), int(cursor["index"])
        batch = ids[index : index + _DEV_STATUS_BATCH]
        items: list[RawItem] = []
        spent = 0
        for issue_id in batch:
            try:
                result = self._context.api.dev_status(issue_id)
            except SkippableError as exc:
                spent += int(exc.context.get("attempts", 1))
                logger.warning("Jira issue %s has no development detail: %s", issue_id, exc)
                continue
            spent += result.attempts
            payload = {"issueId": issue_id, **(result.body or {})}
            version = self._context.fetch_version()
            items.append(RawItem(self.key.entity, issue_id, version, payload))
        end = index + len(batch)
        following = {"ids": ids, "index": end} if end < len(ids) else None
        return Page(items, following, total=len(ids), requests=spent)


def _newest(items: Sequence[RawItem]) -> datetime | None:
    return max((parse_timestamp(i.version) for i in items), default=None)
