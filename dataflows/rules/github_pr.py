"""GitHub pull request (GraphQL node with its nested connections) → pull request row, commits,
reviews, comments, and links to work items from issue keys in the title and head branch.

Definitions:
- state: open | closed | merged (GraphQL's OPEN/CLOSED/MERGED, lower-cased).
- commit_count, review_count, comment_count: the connections' `totalCount` (their node count
  when a payload has no total). review_count counts every review, the author's own included.
  comment_count is the conversation; review_comment_count the comments in review threads (for
  payloads without review threads: the comments attached to reviews).
- A *reviewer* is a non-author who submitted a review (state other than PENDING); reviews of a
  deleted account (null author) are ignored, since they cannot be told apart from the author.
  reviewer_count = distinct reviewers; first_review_at = their earliest submitted review.
- review_cycles: rounds of "changes requested, then a response". Events in time order: a
  reviewer's CHANGES_REQUESTED review opens a round; a later commit or a later submitted
  review that is not CHANGES_REQUESTED closes it and counts one cycle. Several change requests
  before the same response are one round; a request nobody answered yet is not a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dataflows.rules._payload import (
    RecordMeta,
    Row,
    as_dict,
    as_list,
    dig,
    opt_int,
    opt_text,
    opt_time,
    require,
    require_text,
    sha256_hex,
)
from dataflows.rules.links import extract_issue_keys, key_links, parse_pull_url
from pulse.tenant_config import TenantConfig

__all__ = ["PullRequestBundle", "map_pull_request", "pull_request_text"]

_STATES = frozenset({"open", "closed", "merged"})


@dataclass(frozen=True, slots=True)
class PullRequestBundle:
    pull_request: Row
    commits: list[Row]
    reviews: list[Row]
    comments: list[Row]
    links: list[Row]


def pull_request_text(row: Mapping[str, Any]) -> str:
    """The text embedded for a pull request; `content_hash` is its sha256."""
    head = f"{row['repository_full_name']}#{row['number']} [{row['state']}]"
    return f"{head} {row.get('title') or ''}".strip() + f"\n\n{row.get('body') or ''}".rstrip()


def _nodes(connection: Any) -> list[Mapping[str, Any]]:
    return [n for n in as_list(dig(connection, "nodes")) if isinstance(n, Mapping)]


def _count(connection: Any) -> int:
    total = dig(connection, "totalCount")
    return total if isinstance(total, int) else len(_nodes(connection))


def _node_id(node: Mapping[str, Any]) -> str | None:
    return opt_text(node.get("id")) or opt_text(node.get("databaseId")) or opt_text(node.get("url"))


def _repository(payload: Mapping[str, Any], url: str | None, meta: RecordMeta) -> str:
    name = opt_text(dig(payload, "repository", "nameWithOwner"))
    if name:
        return name
    base = as_dict(payload.get("baseRepository")) or {}
    owner, short = opt_text(dig(base, "owner", "login")), opt_text(base.get("name"))
    if owner and short:
        return f"{owner}/{short}"
    parsed = parse_pull_url(url)
    if parsed is None:
        raise meta.error("repository.nameWithOwner", "is missing")
    return parsed[0]


def _review_cycles(changes_requested: list[datetime], responses: list[datetime]) -> int:
    # On equal times the response sorts first: it cannot be an answer to that request.
    events = sorted([(t, 1) for t in changes_requested] + [(t, 0) for t in responses])
    cycles, open_round = 0, False
    for _, is_request in events:
        if is_request:
            open_round = True
        elif open_round:
            cycles, open_round = cycles + 1, False
    return cycles


def map_pull_request(
    payload: Mapping[str, Any], config: TenantConfig, meta: RecordMeta
) -> PullRequestBundle:
    url = opt_text(payload.get("url"))
    external_id = opt_text(payload.get("id")) or meta.external_id
    number = opt_int(meta, require(meta, payload.get("number"), "number"), "number")
    assert number is not None
    repository = _repository(payload, url, meta)
    state = require_text(meta, payload.get("state"), "state").lower()
    if state not in _STATES:
        raise meta.error("state", f"is not OPEN, CLOSED or MERGED: {payload.get('state')!r}")
    author = opt_text(dig(payload, "author", "login"))
    scope = {**meta.scope(config), "pull_request_external_id": external_id}

    commits: list[Row] = []
    for n, node in enumerate(_nodes(payload.get("commits"))):
        commit = as_dict(node.get("commit")) or node
        where = f"commits.nodes[{n}].commit"
        commits.append(
            {
                **scope,
                "sha": require_text(meta, commit.get("oid"), f"{where}.oid"),
                "message": opt_text(commit.get("message")),
                "author_name": opt_text(dig(commit, "author", "name")),
                "author_email": opt_text(dig(commit, "author", "email")),
                "author_login": opt_text(dig(commit, "author", "user", "login")),
                "authored_at": opt_time(meta, commit.get("authoredDate"), f"{where}.authoredDate"),
                "committed_at": opt_time(
                    meta, commit.get("committedDate"), f"{where}.committedDate"
                ),
                "additions": opt_int(meta, commit.get("additions"), f"{where}.additions"),
                "deletions": opt_int(meta, commit.get("deletions"), f"{where}.deletions"),
            }
        )

    reviews: list[Row] = []
    reviewers: set[str] = set()
    review_times: list[datetime] = []  # non-author submitted reviews
    changes_requested: list[datetime] = []
    responses = [c["committed_at"] or c["authored_at"] for c in commits]
    for n, node in enumerate(_nodes(payload.get("reviews"))):
        where = f"reviews.nodes[{n}]"
        ident = _node_id(node)
        if ident is None:
            raise meta.error(f"{where}.id", "is missing")
        review_state = require_text(meta, node.get("state"), f"{where}.state").upper()
        submitted = opt_time(meta, node.get("submittedAt"), f"{where}.submittedAt")
        login = opt_text(dig(node, "author", "login"))
        reviews.append(
            {
                **scope,
                "external_id": ident,
                "author": login,
                "state": review_state,
                "body": opt_text(node.get("body")),
                "submitted_at": submitted,
            }
        )
        if review_state == "PENDING" or submitted is None:
            continue
        if login is not None and login != author:
            reviewers.add(login)
            review_times.append(submitted)
            if review_state == "CHANGES_REQUESTED":
                changes_requested.append(submitted)
                continue
        responses.append(submitted)

    comments: list[Row] = []
    for n, node in enumerate(_nodes(payload.get("comments"))):
        comments.append(_comment(node, "conversation", None, scope, meta, f"comments.nodes[{n}]"))
    threads = payload.get("reviewThreads")
    for t, thread in enumerate(_nodes(threads)):
        for n, node in enumerate(_nodes(thread.get("comments"))):
            where = f"reviewThreads.nodes[{t}].comments.nodes[{n}]"
            comments.append(_comment(node, "review", thread, scope, meta, where))
    # Payloads without review threads (other queries) attach review comments to reviews.
    counted = _nodes(threads) if isinstance(threads, Mapping) else _nodes(payload.get("reviews"))
    review_comment_count = sum(_count(node.get("comments")) for node in counted)

    head_ref = opt_text(payload.get("headRefName"))
    title = opt_text(payload.get("title"))
    row: Row = {
        **meta.loaded_fact(config),
        "external_id": external_id,
        "database_id": opt_int(meta, payload.get("databaseId"), "databaseId"),
        "repository_external_id": opt_text(dig(payload, "repository", "id")),
        "repository_full_name": repository,
        "number": number,
        "title": title,
        "body": opt_text(payload.get("body")),
        "url": url,
        "author": author,
        "merged_by": opt_text(dig(payload, "mergedBy", "login")),
        "state": state,
        "is_draft": bool(payload.get("isDraft")),
        "head_ref": head_ref,
        "base_ref": opt_text(payload.get("baseRefName")),
        "source_created_at": opt_time(meta, payload.get("createdAt"), "createdAt"),
        "source_updated_at": opt_time(meta, payload.get("updatedAt"), "updatedAt"),
        "first_review_at": min(review_times, default=None),
        "merged_at": opt_time(meta, payload.get("mergedAt"), "mergedAt"),
        "closed_at": opt_time(meta, payload.get("closedAt"), "closedAt"),
        "additions": opt_int(meta, payload.get("additions"), "additions"),
        "deletions": opt_int(meta, payload.get("deletions"), "deletions"),
        "changed_files": opt_int(meta, payload.get("changedFiles"), "changedFiles"),
        "commit_count": _count(payload.get("commits")),
        "review_count": _count(payload.get("reviews")),
        "review_cycles": _review_cycles(changes_requested, [r for r in responses if r]),
        "reviewer_count": len(reviewers),
        "comment_count": _count(payload.get("comments")),
        "review_comment_count": review_comment_count,
    }
    row["content_hash"] = sha256_hex(pull_request_text(row))
    keys = {"title": extract_issue_keys(title), "branch": extract_issue_keys(head_ref)}
    links = key_links(keys, meta.versioned(config), repository, number, state, url)
    return PullRequestBundle(row, commits, reviews, comments, links)


def _comment(
    node: Mapping[str, Any],
    kind: str,
    thread: Mapping[str, Any] | None,
    scope: Row,
    meta: RecordMeta,
    where: str,
) -> Row:
    ident = _node_id(node)
    if ident is None:
        raise meta.error(f"{where}.id", "is missing")
    thread = thread or {}
    line = node.get("line") if node.get("line") is not None else thread.get("line")
    return {
        **scope,
        "external_id": ident,
        "kind": kind,
        "author": opt_text(dig(node, "author", "login")),
        "body": opt_text(node.get("body")),
        "path": opt_text(node.get("path")) or opt_text(thread.get("path")),
        "line": opt_int(meta, line, f"{where}.line"),
        "source_created_at": opt_time(meta, node.get("createdAt"), f"{where}.createdAt"),
        "source_updated_at": opt_time(meta, node.get("updatedAt"), f"{where}.updatedAt"),
    }
