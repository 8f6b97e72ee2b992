"""GitHub GraphQL v4 for one simulated organisation: the object graph the executor projects.

Root fields: viewer, rateLimit, organization(login), repository(owner, name), node(id), nodes(ids).
Connections paginate with first/after only (first <= 100, as on GitHub); pull requests honour
orderBy UPDATED_AT/CREATED_AT in either direction (default: creation order, like GitHub).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from itertools import islice
from typing import Any

from connectors.simulator import github_items as items
from connectors.simulator.github_data import GithubOrg, parse_node_id
from connectors.simulator.github_graphql import Prepared, connection, indexed
from connectors.simulator.graphql import FieldError
from connectors.simulator.graphql_parser import GraphQLError
from connectors.simulator.jira_issues import DevPullRequest
from connectors.simulator.overlay import Overlay
from connectors.simulator.rand import hex_id, mix, utc_seconds


class GithubGraph:
    """Builds the object graph of one organisation, honouring the overlay."""

    def __init__(self, org: GithubOrg, overlay: Overlay) -> None:
        self.org = org
        self.overlay = overlay

    def root(self, rate: dict[str, Any]) -> dict[str, Any]:
        return {
            "__typename": "Query",
            "viewer": {
                "__typename": "User",
                "login": "pulse-sim",
                "name": "Pulse Simulator",
                "url": "https://github.com/pulse-sim",
            },
            "rateLimit": lambda args: {"__typename": "RateLimit", **rate},
            "organization": self._organization,
            "repository": self._repository,
            "node": lambda args: self.node(str(args.get("id"))),
            "nodes": lambda args: [self._node_or_error(str(i)) for i in args.get("ids") or []],
        }

    def _organization(self, args: dict[str, Any]) -> dict[str, Any]:
        org = self.org
        if str(args.get("login", "")).lower() != org.login:
            raise FieldError(
                f"Could not resolve to an Organization with the login of '{args.get('login')}'."
            )
        return {
            **org.owner_json(),
            "id": f"O_kgDO{org.login}",
            "name": org.login.title(),
            "repositories": indexed(
                "repositories", "RepositoryConnection", org.r, self.repository_object
            ),
        }

    def _repository(self, args: dict[str, Any]) -> dict[str, Any]:
        org = self.org
        owner, name = str(args.get("owner", "")), str(args.get("name", ""))
        repo = org.repo_by_name.get(name.lower()) if owner.lower() == org.login else None
        if repo is None:
            raise FieldError(f"Could not resolve to a Repository with the name '{owner}/{name}'.")
        return self.repository_object(repo.index)

    def _node_or_error(self, value: str) -> dict[str, Any] | FieldError:
        try:
            return self.node(value)
        except FieldError as exc:
            return exc

    def node(self, value: str) -> dict[str, Any]:
        parsed = parse_node_id(value)
        if parsed is not None and parsed[1] == self.org.site:
            kind, _, parts = parsed
            if kind == "pr" and len(parts) == 1 and self._live(parts[0]):
                return self.pull_object(parts[0])
            elif kind == "repo" and len(parts) == 1 and 0 <= parts[0] < self.org.r:
                return self.repository_object(parts[0])
            elif kind == "thread" and len(parts) == 2 and self._live(parts[0]):
                j, t = parts
                if t < self.org.pull(j).threads:
                    return self._thread(j, t)
        raise FieldError(f"Could not resolve to a node with the global id of '{value}'")

    def _live(self, j: int) -> bool:
        return 0 <= j < self.org.n and j not in self.overlay.deleted

    def repository_object(self, r: int) -> dict[str, Any]:
        obj = self.org.repo_json(r)
        obj["pullRequests"] = connection(
            "pullRequests",
            "PullRequestConnection",
            lambda: self.repo_pull_count(r),
            lambda after, first, args: self._pull_page(r, after, first, args),
            frozenset({"orderBy"}),
        )
        return obj

    # -- pull request listing --------------------------------------------------------------------
    def repo_size(self, r: int) -> int:
        org = self.org
        return max(0, (org.n - r + org.r - 1) // org.r)

    def repo_pull_count(self, r: int) -> int:
        return self.repo_size(r) - sum(1 for j in self.overlay.deleted if j % self.org.r == r)

    def updated(self, j: int) -> int:
        return self.overlay.updated(j, self.org.pull_updated(j))

    def _pull_page(
        self, r: int, after: Any, first: int, args: dict[str, Any]
    ) -> tuple[list[tuple[Any, dict[str, Any]]], bool]:
        order = args.get("orderBy") or {}
        by = str(order.get("field", "CREATED_AT"))
        desc = str(order.get("direction", "ASC")) == "DESC"
        if by not in ("UPDATED_AT", "CREATED_AT"):
            raise GraphQLError(
                f"The simulator orders pullRequests by UPDATED_AT or CREATED_AT, not {by}"
            )
        key = _valid_cursor(after, by)
        stream = (
            self._by_updated(r, key, desc) if by == "UPDATED_AT" else self._by_number(r, key, desc)
        )
        taken = list(islice(stream, first + 1))
        return [
            (list(k) if isinstance(k, tuple) else k, self.pull_object(j)) for k, j in taken[:first]
        ], len(taken) > first

    def _by_number(self, r: int, after: Any, desc: bool) -> Iterator[tuple[Any, int]]:
        size, org = self.repo_size(r), self.org
        if desc:
            ms = range(min(size - 1, int(after) - 1) if after is not None else size - 1, -1, -1)
        else:
            ms = range(int(after) + 1 if after is not None else 0, size)
        for m in ms:
            j = r + m * org.r
            if j not in self.overlay.deleted:
                yield m, j

    def _by_updated(self, r: int, after: Any, desc: bool) -> Iterator[tuple[Any, int]]:
        org, overlay = self.org, self.overlay
        size = self.repo_size(r)

        def key(m: int) -> tuple[int, int]:
            j = r + m * org.r
            return org.pull_updated(j), j

        def base() -> Iterator[tuple[Any, int]]:
            lo, hi = 0, size  # first m with key(m) > after (ascending) / >= after (descending)
            while lo < hi and after is not None:
                mid = (lo + hi) // 2
                if (key(mid) >= after) if desc else (key(mid) > after):
                    hi = mid
                else:
                    lo = mid + 1
            start = (
                (lo if after is not None else size) if desc else (lo if after is not None else 0)
            )
            ms = range(start - 1, -1, -1) if desc else range(start, size)
            for m in ms:
                j = r + m * org.r
                if not overlay.hidden(j):
                    yield key(m), j

        touched = [((ms_, j), j) for ms_, j in overlay.by_time if j % org.r == r]
        if after is not None:
            touched = [t for t in touched if (t[0] < after if desc else t[0] > after)]
        touched.sort(reverse=desc)
        return heapq.merge(base(), touched, reverse=desc)

    # -- pull request objects --------------------------------------------------------------------
    def pull_object(self, j: int) -> dict[str, Any]:
        org = self.org
        pr = org.pull(j)
        repo = org.repos[pr.repo]
        url = f"https://github.com/{org.login}/{repo.name}/pull/{pr.number}"
        files = org.changed_files(j)
        adds = sum(items.file_json(org, j, f)["additions"] for f in range(files))
        dels = sum(items.file_json(org, j, f)["deletions"] for f in range(files))
        labels = org.labels(j)
        requested = [] if pr.state != "OPEN" else [j % 4, (j + 5) % 4] if j % 2 else [j % 4]
        repo_ref = {
            "__typename": "Repository",
            "id": repo.id,
            "name": repo.name,
            "nameWithOwner": f"{org.login}/{repo.name}",
            "owner": org.owner_json(),
            "url": f"https://github.com/{org.login}/{repo.name}",
        }
        head_owner = {
            "__typename": "Organization" if pr.head_owner == org.login else "User",
            "login": pr.head_owner,
        }
        merge_oid = hex_id(mix(org.seed, 14, j), 40) if pr.merged_ms is not None else None
        return {
            "__typename": "PullRequest",
            "id": pr.id,
            "databaseId": pr.database_id,
            "number": pr.number,
            "title": pr.title,
            "body": pr.body,
            "url": url,
            "permalink": url,
            "resourcePath": url[18:],
            "state": pr.state,
            "isDraft": pr.draft,
            "closed": pr.state != "OPEN",
            "merged": pr.state == "MERGED",
            "createdAt": utc_seconds(pr.created_ms),
            "updatedAt": utc_seconds(self.updated(j)),
            "closedAt": utc_seconds(pr.closed_ms) if pr.closed_ms is not None else None,
            "mergedAt": utc_seconds(pr.merged_ms) if pr.merged_ms is not None else None,
            "additions": adds,
            "deletions": dels,
            "changedFiles": files,
            "headRefName": pr.head,
            "baseRefName": pr.base,
            "author": org.actor(pr.author),
            "mergedBy": org.actor(pr.merged_by),
            "repository": repo_ref,
            "baseRepository": repo_ref,
            "headRepository": {
                **repo_ref,
                "owner": head_owner,
                "nameWithOwner": f"{pr.head_owner}/{repo.name}",
            },
            "mergeCommit": {"__typename": "Commit", "oid": merge_oid} if merge_oid else None,
            "commits": indexed(
                "commits",
                "PullRequestCommitConnection",
                pr.commits,
                lambda c: items.commit_json(org, j, c),
            ),
            "reviews": indexed(
                "reviews", "PullRequestReviewConnection", pr.reviews, lambda r: self._review(j, r)
            ),
            "comments": indexed(
                "comments",
                "IssueCommentConnection",
                pr.comments,
                lambda c: items.comment_json(org, j, c),
            ),
            "reviewThreads": indexed(
                "reviewThreads",
                "PullRequestReviewThreadConnection",
                pr.threads,
                lambda t: self._thread(j, t),
            ),
            "labels": indexed(
                "labels",
                "LabelConnection",
                len(labels),
                lambda k: {"__typename": "Label", "name": labels[k]},
            ),
            "files": indexed(
                "files",
                "PullRequestChangedFileConnection",
                files,
                lambda f: items.file_json(org, j, f),
            ),
            "reviewRequests": indexed(
                "reviewRequests",
                "ReviewRequestConnection",
                len(requested),
                lambda k: self._review_request(j, requested[k]),
            ),
            "reviewEvents": indexed("reviewEvents", "ReviewEventConnection", 0, lambda k: {}),
        }

    def _review(self, j: int, r: int) -> dict[str, Any]:
        review = items.review_json(self.org, j, r)
        review["comments"] = indexed(
            "comments", "PullRequestReviewCommentConnection", 0, lambda k: {}
        )
        return review

    def _thread(self, j: int, t: int) -> dict[str, Any]:
        thread = items.thread_json(self.org, j, t)
        thread["comments"] = indexed(
            "comments",
            "PullRequestReviewCommentConnection",
            self.org.thread_comments(j, t),
            lambda c: items.thread_comment_json(self.org, j, t, c),
        )
        return thread

    def _review_request(self, j: int, who: int) -> dict[str, Any]:
        org = self.org
        if who == 3:  # a team request: members instead of a login
            team = org.team(j % 3)
            team["members"] = indexed(
                "members", "TeamMemberConnection", 2, lambda k: org.actor((j + k) % 12) or {}
            )
            reviewer = team
        else:
            reviewer = org.actor((j + who) % 12) or {}
        return {
            "__typename": "ReviewRequest",
            "asCodeOwner": who == 1,
            "requestedReviewer": reviewer,
        }

    # -- Jira's view of the PRs that mention an issue --------------------------------------------
    def pull_requests_for_issue(self, i: int) -> list[DevPullRequest]:
        org = self.org
        out = []
        for j in org.links.prs_for_issue(i):
            if j >= org.n or j in self.overlay.deleted:
                continue
            pr = org.pull(j)
            repo = org.repos[pr.repo]
            repo_url = f"https://github.com/{org.login}/{repo.name}"
            status = {"OPEN": "OPEN", "MERGED": "MERGED"}.get(pr.state, "DECLINED")
            out.append(
                DevPullRequest(
                    number=pr.number,
                    title=pr.title,
                    url=f"{repo_url}/pull/{pr.number}",
                    status=status,
                    source_branch=pr.head,
                    destination_branch=pr.base,
                    repository=f"{org.login}/{repo.name}",
                    repository_url=repo_url,
                    updated_ms=self.updated(j),
                    author=(org.actor(pr.author) or {}).get("login"),
                    comments=pr.comments,
                )
            )
        return out


def _valid_cursor(after: Any, by: str) -> Any:
    """A cursor is only valid for the ordering that produced it."""
    if after is None:
        return None
    pair = isinstance(after, list) and len(after) == 2
    if by == "UPDATED_AT" and pair and all(isinstance(v, int) for v in after):
        return tuple(after)
    if by == "CREATED_AT" and isinstance(after, int):
        return after
    raise GraphQLError(
        "Argument 'after' on Field 'pullRequests' has an invalid value: the "
        "cursor belongs to another ordering."
    )


def execute(graph: GithubGraph, prepared: Prepared, rate: dict[str, Any]) -> dict[str, Any]:
    return prepared.executor().run(graph.root(rate))
