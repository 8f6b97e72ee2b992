"""The pull request rule on recorded real GitHub payloads (../shared/fixtures/real)."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from dataflows.rules import transform_record
from dataflows.rules._payload import parse_timestamp

from .helpers import CONFIG, FIXTURES, GITHUB, devlake


def transform_pr(payload: dict[str, Any], raw_id: int = 1) -> dict[str, list[dict[str, Any]]]:
    # Like the connector: the node id is the external id, the URL when a payload has none.
    return transform_record(
        "github.pull_request",
        raw_id=raw_id,
        external_id=payload.get("id") or payload["url"],
        version=payload["updatedAt"],
        payload=payload,
        config=CONFIG,
        integration_id=GITHUB,
        job_run_id=None,
    ).rows


def test_faros_graphql_pull_requests() -> None:
    document = json.loads((FIXTURES / "faros" / "github-graphql-pull-requests.json").read_text())
    nodes = document["repository"]["pullRequests"]["nodes"]
    prs = {}
    for node in nodes:
        rows = transform_pr(node)
        prs[node["number"]] = rows["pull_requests"][0]
    assert set(prs) == {46, 47, 48}
    assert {n: p["state"] for n, p in prs.items()} == {46: "merged", 47: "closed", 48: "merged"}
    assert not any(p["is_draft"] for p in prs.values())
    assert {p["repository_full_name"] for p in prs.values()} == {"faros-ai/faros-apps"}
    assert prs[48]["external_id"] == "https://github.com/faros-ai/faros-apps/pull/48"

    merged = prs[48]  # author dolos, two reviews by nehanda
    assert (merged["reviewer_count"], merged["review_count"]) == (1, 2)
    assert merged["first_review_at"] == parse_timestamp("2021-02-04T21:53:09Z")
    assert (merged["commit_count"], merged["comment_count"]) == (13, 3)
    assert merged["review_comment_count"] == 1  # attached to the reviews in this query shape
    assert (merged["additions"], merged["deletions"], merged["changed_files"]) == (1077, 763, 21)
    assert (merged["head_ref"], merged["base_ref"]) == ("dora-employee-param", "main")

    self_reviewed = prs[46]  # its only review is by its author; a team was asked to review
    assert (self_reviewed["reviewer_count"], self_reviewed["first_review_at"]) == (0, None)
    assert (prs[47]["merged_at"], prs[47]["reviewer_count"]) == (None, 0)


def _rest_pulls() -> list[dict[str, Any]]:
    """The REST recording as GraphQL PR nodes (the shape the connector stores)."""
    by_number: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in devlake_github("pull_request_commits"):
        by_number[str(json.loads(row["input"])["Number"])]["commits"].append(row["data"])
    for row in devlake_github("pull_request_reviews"):
        by_number[str(json.loads(row["input"])["Number"])]["reviews"].append(row["data"])
    for row in devlake_github("pull_request_review_comments"):
        number = row["data"]["pull_request_url"].rsplit("/", 1)[1]
        by_number[number]["review_comments"].append(row["data"])
    for row in devlake_github("comments"):
        by_number[row["data"]["issue_url"].rsplit("/", 1)[1]]["comments"].append(row["data"])

    def login(user: dict[str, Any] | None) -> dict[str, str] | None:
        return {"login": user["login"]} if user else None

    def connection(nodes: list[dict[str, Any]]) -> dict[str, Any]:
        return {"totalCount": len(nodes), "pageInfo": {"hasNextPage": False}, "nodes": nodes}

    nodes = []
    for row in devlake_github("pull_requests"):
        pr = row["data"]
        related = by_number[str(pr["number"])]
        threads: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for c in related["review_comments"]:
            threads[c.get("in_reply_to_id") or c["id"]].append(c)
        nodes.append(
            {
                "id": pr["node_id"],
                "databaseId": pr["id"],
                "number": pr["number"],
                "title": pr["title"],
                "body": pr["body"],
                "url": pr["html_url"],
                "state": "MERGED" if pr["merged_at"] else pr["state"].upper(),
                "isDraft": pr.get("draft", False),
                "createdAt": pr["created_at"],
                "updatedAt": pr["updated_at"],
                "closedAt": pr["closed_at"],
                "mergedAt": pr["merged_at"],
                "headRefName": pr["head"]["ref"],
                "baseRefName": pr["base"]["ref"],
                "author": login(pr["user"]),
                "repository": {
                    "id": pr["base"]["repo"]["node_id"],
                    "nameWithOwner": pr["base"]["repo"]["full_name"],
                },
                "commits": connection(
                    [
                        {
                            "commit": {
                                "oid": c["sha"],
                                "message": c["commit"]["message"],
                                "authoredDate": c["commit"]["author"]["date"],
                                "committedDate": c["commit"]["committer"]["date"],
                                "author": {
                                    "name": c["commit"]["author"]["name"],
                                    "email": c["commit"]["author"]["email"],
                                    "user": login(c.get("author")),
                                },
                            }
                        }
                        for c in related["commits"]
                    ]
                ),
                "reviews": connection(
                    [
                        {
                            "id": r["node_id"],
                            "databaseId": r["id"],
                            "author": login(r["user"]),
                            "state": r["state"],
                            "body": r["body"],
                            "submittedAt": r.get("submitted_at"),
                        }
                        for r in related["reviews"]
                    ]
                ),
                "comments": connection(
                    [
                        {
                            "id": c["node_id"],
                            "author": login(c["user"]),
                            "body": c["body"],
                            "createdAt": c["created_at"],
                            "updatedAt": c["updated_at"],
                        }
                        for c in related["comments"]
                    ]
                ),
                "reviewThreads": connection(
                    [
                        {
                            "id": f"T_{root}",
                            "path": comments[0]["path"],
                            "line": comments[0].get("line"),
                            "comments": connection(
                                [
                                    {
                                        "id": c["node_id"],
                                        "author": login(c["user"]),
                                        "body": c["body"],
                                        "path": c["path"],
                                        "line": c.get("line"),
                                        "createdAt": c["created_at"],
                                        "updatedAt": c["updated_at"],
                                    }
                                    for c in comments
                                ]
                            ),
                        }
                        for root, comments in threads.items()
                    ]
                ),
            }
        )
    return nodes


def devlake_github(name: str) -> list[dict[str, Any]]:
    return devlake(f"github/_raw_github_api_{name}.csv")


def test_rest_recorded_pull_requests() -> None:
    nodes = _rest_pulls()
    assert len(nodes) == 50
    rows = [transform_pr(node, raw_id) for raw_id, node in enumerate(nodes, start=1)]
    prs = [r["pull_requests"][0] for r in rows]
    states = [p["state"] for p in prs]
    assert (states.count("merged"), states.count("closed"), states.count("open")) == (27, 19, 4)
    recorded = {
        (json.loads(r["input"])["Number"], r["data"]["sha"])
        for r in devlake_github("pull_request_commits")
    }
    landed = {
        (r["pull_requests"][0]["number"], c["sha"]) for r in rows for c in r.get("pr_commits", [])
    }
    assert landed == recorded  # every recorded commit lands on its pull request
    for node, out in zip(nodes, rows, strict=True):
        pr = out["pull_requests"][0]
        assert pr["external_id"] == node["id"]
        assert len(out.get("pr_commits", [])) == pr["commit_count"]
        assert len(out.get("pr_reviews", [])) == pr["review_count"]
        kinds = [c["kind"] for c in out.get("pr_comments", [])]
        assert kinds.count("conversation") == pr["comment_count"]
        assert kinds.count("review") == pr["review_comment_count"]
        author = (node["author"] or {}).get("login")
        others = {
            r["author"]["login"]
            for r in node["reviews"]["nodes"]
            if r["author"] and r["author"]["login"] != author and r["state"] != "PENDING"
        }
        assert pr["reviewer_count"] == len(others)
        assert (pr["first_review_at"] is None) == (not others)
        assert pr["review_cycles"] <= sum(
            r["state"] == "CHANGES_REQUESTED" for r in node["reviews"]["nodes"]
        )
        assert pr["source_created_at"].tzinfo is not None
    # Titles and branches here mention go1.14, v2, UTF and the like but no issue keys.
    assert not any(r.get("work_item_pr_links") for r in rows)
    # The recording holds one pull request twice: same row identity, so the newer version wins.
    ids = [p["external_id"] for p in prs]
    assert len(ids) - len(set(ids)) == 1
    # #53: three change requests by the maintainer, each answered by the author.
    assert {p["number"]: p["review_cycles"] for p in prs if p["review_cycles"]} == {53: 3}
    assert sum(p["review_comment_count"] for p in prs) == 16
