from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from dataflows.rules import RecordError, map_pull_request, pull_request_text
from storage.schema import PrComment, PrCommit, PrReview, PullRequest, WorkItemPrLink

from .helpers import CONFIG, GITHUB, meta


def columns(table: Any, *, child: bool = False) -> set[str]:
    # children_hash is the loader's (a digest of the rows the rules give as children)
    names = {c.name for c in table.__table__.columns} - {"id", "created_at", "updated_at"}
    names -= {"children_hash"}
    return names - {"pull_request_id"} | {"pull_request_external_id"} if child else names


def stamp(minute: int) -> str:
    return f"2024-03-01T10:{minute:02d}:00Z"


def when(minute: int) -> datetime:
    return datetime(2024, 3, 1, 10, minute, tzinfo=UTC)


def commit(sha: str, minute: int) -> dict[str, Any]:
    return {
        "commit": {
            "oid": sha,
            "message": f"work {sha}",
            "additions": 3,
            "deletions": 1,
            "authoredDate": stamp(minute),
            "committedDate": stamp(minute),
            "author": {"name": "Ana", "email": "ana@example.com", "user": {"login": "ana"}},
            "committer": {"name": "GitHub", "email": "noreply@github.com"},
        }
    }


def review(ident: str, login: str | None, state: str, minute: int | None) -> dict[str, Any]:
    return {
        "id": ident,
        "databaseId": int(ident[1:]),
        "author": {"login": login} if login else None,
        "state": state,
        "body": "",
        "submittedAt": None if minute is None else stamp(minute),
        "createdAt": stamp(minute or 0),
    }


def connection(*nodes: dict[str, Any], total: int | None = None) -> dict[str, Any]:
    return {
        "totalCount": len(nodes) if total is None else total,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "nodes": list(nodes),
    }


def pr(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": "PR_kwDO1",
        "databaseId": 991,
        "number": 42,
        "title": "PUL-12: add export",
        "body": "Adds the **export** button.",
        "url": "https://github.com/acme/api/pull/42",
        "state": "MERGED",
        "isDraft": False,
        "createdAt": stamp(0),
        "updatedAt": stamp(50),
        "closedAt": stamp(45),
        "mergedAt": stamp(45),
        "additions": 120,
        "deletions": 30,
        "changedFiles": 4,
        "headRefName": "feature/PUL-12-export-PUL-13",
        "baseRefName": "main",
        "author": {"login": "ana"},
        "mergedBy": {"login": "bo"},
        "repository": {"id": "R_1", "nameWithOwner": "acme/api"},
        "commits": connection(commit("a1", 1), commit("b2", 20)),
        "reviews": connection(
            review("r1", "ana", "COMMENTED", 5),  # the author: not a reviewer
            review("r2", "bo", "CHANGES_REQUESTED", 10),
            review("r3", "cy", "CHANGES_REQUESTED", 12),  # same round: one cycle
            review("r4", None, "COMMENTED", 8),  # deleted account: ignored
            review("r5", "bo", "APPROVED", 30),
            review("r6", "dee", "PENDING", None),  # not submitted
        ),
        "comments": connection(
            {
                "id": "IC_1",
                "databaseId": 1,
                "author": {"login": "bo"},
                "body": "nice",
                "createdAt": stamp(11),
                "updatedAt": stamp(11),
            },
            total=3,
        ),
        "reviewThreads": connection(
            {
                "id": "T_1",
                "path": "api/export.py",
                "line": 12,
                "comments": connection(
                    {
                        "id": "RC_1",
                        "databaseId": 2,
                        "author": {"login": "bo"},
                        "body": "rename",
                        "path": "api/export.py",
                        "position": 4,
                        "line": None,
                        "createdAt": stamp(10),
                        "updatedAt": stamp(10),
                    },
                    {"id": "RC_2", "author": None, "body": "ok", "createdAt": stamp(15)},
                ),
            }
        ),
    }
    payload.update(overrides)
    return payload


def mapped(payload: dict[str, Any]):
    return map_pull_request(
        payload, CONFIG, meta("github.pull_request", "PR_kwDO1", integration_id=GITHUB)
    )


def test_row_columns() -> None:
    bundle = mapped(pr())
    assert set(bundle.pull_request) == columns(PullRequest)
    assert set(bundle.commits[0]) == columns(PrCommit, child=True)
    assert set(bundle.reviews[0]) == columns(PrReview, child=True)
    assert set(bundle.comments[0]) == columns(PrComment, child=True)
    assert set(bundle.links[0]) == columns(WorkItemPrLink)


def test_pull_request_fields_and_metrics() -> None:
    row = mapped(pr()).pull_request
    assert (row["external_id"], row["database_id"], row["repository_external_id"]) == (
        "PR_kwDO1",
        991,
        "R_1",
    )
    assert (row["repository_full_name"], row["number"], row["state"], row["is_draft"]) == (
        "acme/api",
        42,
        "merged",
        False,
    )
    assert (row["author"], row["merged_by"], row["head_ref"], row["base_ref"]) == (
        "ana",
        "bo",
        "feature/PUL-12-export-PUL-13",
        "main",
    )
    assert (row["merged_at"], row["closed_at"], row["source_created_at"]) == (
        when(45),
        when(45),
        when(0),
    )
    assert (row["additions"], row["deletions"], row["changed_files"]) == (120, 30, 4)
    assert row["first_review_at"] == when(10)  # not the author's own review at :05
    assert row["reviewer_count"] == 2  # bo and cy
    assert (row["commit_count"], row["review_count"]) == (2, 6)
    assert (row["comment_count"], row["review_comment_count"]) == (3, 2)  # totals, not nodes
    assert row["review_cycles"] == 1
    assert (row["raw_id"], row["last_job_run_id"], row["integration_id"]) == (501, 9, GITHUB)
    assert row["content_hash"] == hashlib.sha256(pull_request_text(row).encode()).hexdigest()


def test_children() -> None:
    bundle = mapped(pr())
    assert [c["sha"] for c in bundle.commits] == ["a1", "b2"]
    first = bundle.commits[0]
    assert (first["author_login"], first["author_email"], first["committed_at"]) == (
        "ana",
        "ana@example.com",
        when(1),
    )
    assert {c["pull_request_external_id"] for c in bundle.commits} == {"PR_kwDO1"}
    assert [(r["external_id"], r["author"], r["state"]) for r in bundle.reviews][3:] == [
        ("r4", None, "COMMENTED"),
        ("r5", "bo", "APPROVED"),
        ("r6", "dee", "PENDING"),
    ]
    kinds = [(c["external_id"], c["kind"], c["path"], c["line"]) for c in bundle.comments]
    assert kinds == [
        ("IC_1", "conversation", None, None),
        ("RC_1", "review", "api/export.py", 12),  # the thread's line when the comment has none
        ("RC_2", "review", "api/export.py", 12),
    ]


def test_links_from_title_and_branch() -> None:
    links = mapped(pr()).links
    assert [(x["work_item_key"], x["link_source"]) for x in links] == [
        ("PUL-12", "title"),
        ("PUL-12", "branch"),
        ("PUL-13", "branch"),
    ]
    assert {(x["repository_full_name"], x["pr_number"], x["pr_status"]) for x in links} == {
        ("acme/api", 42, "merged")
    }
    assert mapped(pr(title="Bump UTF-8 handling", headRefName="fix/utf-8")).links == []


@pytest.mark.parametrize(
    ("reviews", "commits", "cycles"),
    [
        ([("bo", "CHANGES_REQUESTED", 10)], [], 0),  # nobody answered yet
        ([("bo", "CHANGES_REQUESTED", 10)], [20], 1),  # fixed with a commit
        ([("bo", "CHANGES_REQUESTED", 10), ("bo", "APPROVED", 20)], [], 1),  # re-reviewed
        ([("bo", "CHANGES_REQUESTED", 10), ("bo", "CHANGES_REQUESTED", 30)], [20, 40], 2),
        ([("bo", "APPROVED", 10)], [20], 0),
        ([("bo", "CHANGES_REQUESTED", 10)], [5], 0),  # the commit came before the request
        ([("bo", "CHANGES_REQUESTED", 10)], [10], 0),  # not an answer at the same instant
    ],
)
def test_review_cycles(
    reviews: list[tuple[str, str, int]], commits: list[int], cycles: int
) -> None:
    nodes = [review(f"r{n}", who, state, m) for n, (who, state, m) in enumerate(reviews, 1)]
    payload = pr(
        reviews=connection(*nodes),
        commits=connection(*(commit(f"c{m}", m) for m in commits)),
    )
    assert mapped(payload).pull_request["review_cycles"] == cycles


def test_open_draft_without_reviews_or_author() -> None:
    payload = pr(
        state="OPEN",
        isDraft=True,
        author=None,
        mergedBy=None,
        mergedAt=None,
        closedAt=None,
        reviews=connection(),
        commits=connection(),
        comments=connection(),
        reviewThreads=connection(),
    )
    row = mapped(payload).pull_request
    assert (row["state"], row["is_draft"], row["author"], row["merged_by"]) == (
        "open",
        True,
        None,
        None,
    )
    assert (row["first_review_at"], row["reviewer_count"], row["review_cycles"]) == (None, 0, 0)
    assert (row["commit_count"], row["comment_count"], row["review_comment_count"]) == (0, 0, 0)


def test_repository_name_fallbacks() -> None:
    base = pr()
    del base["repository"]
    assert mapped(base).pull_request["repository_full_name"] == "acme/api"  # from the URL
    other = {**base, "baseRepository": {"name": "web", "owner": {"login": "acme"}}}
    assert mapped(other).pull_request["repository_full_name"] == "acme/web"
    with pytest.raises(RecordError, match=r"repository\.nameWithOwner is missing"):
        mapped({**base, "url": None})


def test_malformed_pull_requests() -> None:
    with pytest.raises(RecordError, match=r"'PR_kwDO1': number is missing"):
        mapped(pr(number=None))
    with pytest.raises(RecordError, match=r"state is not OPEN, CLOSED or MERGED"):
        mapped(pr(state="LOCKED"))
    with pytest.raises(RecordError, match=r"commits\.nodes\[0\]\.commit\.oid is missing"):
        mapped(pr(commits=connection({"commit": {"message": "?"}})))
    with pytest.raises(RecordError, match=r"createdAt is not a timestamp"):
        mapped(pr(createdAt="never"))
