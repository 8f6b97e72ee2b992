"""Complete pull requests whose nested connections overflowed the listing page.

The listing asks for the first `nested` commits, reviews, comments and review threads (and the
first `nested` comments of each thread). A pull request with more is completed in batches: one
`PullRequestsByIds` request reads up to `BATCH` of them again with the largest nested pages, then
each `PullRequestNestedPages` request fetches the next page of *every* connection still open,
across all pull requests of the batch, one alias per connection. A typical batch with a few
hundred commits per pull request costs three requests in all, instead of one request per
connection per pull request.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from connectors.github import queries
from connectors.github.client import GitHubApi
from connectors.github.queries import NestedWant
from pulse.errors import RetriableError

logger = logging.getLogger(__name__)

CONNECTIONS = ("commits", "reviews", "comments", "reviewThreads")
BATCH = 50  # pull requests completed together (GitHub's node limit allows ~90 at these sizes)
SHRINK_ON = frozenset({502, 504})  # GitHub's edge gave up on a heavy query: ask for less
_MAX_WANTS = 200  # aliases per request
_MAX_ROUNDS = 100


def _has_next(connection: Any) -> bool:
    return isinstance(connection, dict) and bool(
        (connection.get("pageInfo") or {}).get("hasNextPage")
    )


def _nodes(connection: Any) -> list[Any]:
    return list(connection.get("nodes") or []) if isinstance(connection, dict) else []


def needs_more(pr: Mapping[str, Any]) -> bool:
    """True when some nested connection of the pull request has another page."""
    if any(_has_next(pr.get(name)) for name in CONNECTIONS):
        return True
    return any(_has_next(thread.get("comments")) for thread in _nodes(pr.get("reviewThreads")))


def without_edges(pr: dict[str, Any]) -> dict[str, Any]:
    """The payload as stored: thread edge cursors are a paging aid, not data."""
    threads = pr.get("reviewThreads")
    if isinstance(threads, dict) and "edges" in threads:
        pr = {**pr, "reviewThreads": {k: v for k, v in threads.items() if k != "edges"}}
    return pr


def complete_pull_requests(api: GitHubApi, ids: list[str]) -> tuple[list[dict[str, Any]], int]:
    """Read the pull requests `ids` with every nested connection complete.

    Returns them (ids deleted in the meantime are left out) and the requests it cost. When the
    batch is too heavy for GitHub's edge (502/504) it is split in halves."""
    try:
        result = api.pull_requests_by_ids(
            ids,
            queries.MAX_NESTED,
            queries.MAX_NESTED // 2,
            fail_fast=SHRINK_ON if len(ids) > 1 else (),
        )
    except RetriableError as exc:
        if exc.context.get("status") not in SHRINK_ON or len(ids) < 2:
            raise
        logger.warning(
            "GitHub: %d pull requests at once failed (%s); splitting the batch",
            len(ids),
            exc.context.get("status"),
        )
        half = len(ids) // 2
        first, spent_first = complete_pull_requests(api, ids[:half])
        second, spent_second = complete_pull_requests(api, ids[half:])
        return first + second, int(exc.context.get("attempts", 1)) + spent_first + spent_second
    spent = result.attempts
    nodes = ((result.body or {}).get("data") or {}).get("nodes")
    if not isinstance(nodes, list):
        raise RetriableError(
            "GitHub answered PullRequestsByIds without nodes", integration=api.http.integration
        )
    prs = [dict(node) for node in nodes if isinstance(node, dict) and node.get("id")]
    if len(prs) < len(ids):
        logger.info("GitHub: %d of %d pull requests are gone", len(ids) - len(prs), len(ids))
    for _ in range(_MAX_ROUNDS):
        wants = [want for pr in prs for want in _wants(pr)]
        if not wants:
            return [without_edges(pr) for pr in prs], spent
        by_id = {pr["id"]: pr for pr in prs}
        for start in range(0, len(wants), _MAX_WANTS):
            chunk = wants[start : start + _MAX_WANTS]
            result = api.nested_pages(*queries.nested_pages_query(chunk))
            spent += result.attempts
            data = (result.body or {}).get("data") or {}
            for k, want in enumerate(chunk):
                _merge(by_id[want.pull_request_id], want, data.get(f"n{k}"))
    raise RetriableError("GitHub nested pages did not end", integration=api.http.integration)


def _wants(pr: Mapping[str, Any]) -> list[NestedWant]:
    wants = []
    for name in CONNECTIONS:
        connection = pr.get(name)
        if isinstance(connection, dict) and _has_next(connection):
            after = connection["pageInfo"].get("endCursor")
            wants.append(NestedWant(pr["id"], name, after))
    threads = pr.get("reviewThreads") or {}
    cursors = [edge.get("cursor") for edge in threads.get("edges") or []]
    for index, thread in enumerate(_nodes(threads)):
        if _has_next(thread.get("comments")):
            if len(cursors) != len(_nodes(threads)):
                logger.warning(
                    "GitHub PR %s: thread %s has more comments than were read",
                    pr.get("url"),
                    thread.get("id"),
                )
                continue
            after = thread["comments"]["pageInfo"].get("endCursor")
            before = cursors[index - 1] if index > 0 else None
            wants.append(NestedWant(pr["id"], "threadComments", after, before, thread.get("id")))
    return wants


def _merge(pr: dict[str, Any], want: NestedWant, node: Any) -> None:
    if not isinstance(node, dict):
        raise RetriableError(f"GitHub answered without pull request {want.pull_request_id!r}")
    if want.connection == "threadComments":
        page = (node.get("reviewThreads") or {}).get("nodes") or []
        threads = _nodes(pr.get("reviewThreads"))
        target = next((t for t in threads if t.get("id") == want.thread_id), None)
        if not page or target is None or page[0].get("id") != want.thread_id:
            # A thread was added or removed before this one while we paged: read it again later.
            raise RetriableError(
                f"GitHub review thread {want.thread_id!r} moved while its comments were read",
                entity="github.pull_request",
            )
        target["comments"] = _appended(target["comments"], page[0]["comments"])
        return
    pr[want.connection] = _appended(pr[want.connection], node.get(want.connection))


def _appended(connection: dict[str, Any], page: Any) -> dict[str, Any]:
    if not isinstance(page, dict):
        raise RetriableError("GitHub answered a nested page without its connection")
    merged = {
        **connection,
        "totalCount": page.get("totalCount", connection.get("totalCount")),
        "pageInfo": page.get("pageInfo") or {"hasNextPage": False},
        "nodes": _nodes(connection) + _nodes(page),
    }
    if "edges" in connection or "edges" in page:
        merged["edges"] = list(connection.get("edges") or []) + list(page.get("edges") or [])
    return merged
