"""GitHub GraphQL: repositories, pull requests newest first, nested connections, errors."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from connectors.simulator import SimulatorServer

from .helpers import PAGE, PR_FIELDS, connection_all, github, gql

RATE = "rateLimit { cost remaining resetAt limit }"
REPOS = f"""
query OrgRepositories($org: String!, $first: Int!, $after: String) {{
  {RATE}
  organization(login: $org) {{ repositories(first: $first, after: $after) {{
    {PAGE} nodes {{ id name nameWithOwner isArchived defaultBranchRef {{ name }} }} }} }}
}}"""
PULLS = f"""
query RepoPullRequests($owner: String!, $name: String!, $first: Int!, $after: String,
                       $nested: Int!) {{
  {RATE}
  repository(owner: $owner, name: $name) {{
    pullRequests(first: $first, after: $after, orderBy: {{field: UPDATED_AT, direction: DESC}}) {{
      {PAGE} nodes {{ ...PR }} }} }}
}}
fragment PR on PullRequest {{
  {PR_FIELDS}
  commits(first: $nested) {{ {PAGE} nodes {{ commit {{ oid }} }} }}
  reviews(first: $nested) {{ {PAGE} nodes {{ id state author {{ login }} }} }}
  comments(first: $nested) {{ {PAGE} nodes {{ id author {{ login }} }} }}
  reviewThreads(first: $nested) {{ {PAGE} nodes {{ id comments(first: $nested) {{ {PAGE} }} }} }}
}}"""
IDS = f"""
query RepoPullRequestIds($owner: String!, $name: String!, $first: Int!, $after: String) {{
  repository(owner: $owner, name: $name) {{ pullRequests(first: $first, after: $after) {{
    {PAGE} nodes {{ id number }} }} }}
}}"""


def _nested(operation: str, connection: str, nodes: str) -> str:
    return f"""
query {operation}($id: ID!, $first: Int!, $after: String) {{
  node(id: $id) {{ ... on PullRequest {{ {connection}(first: $first, after: $after) {{
    {PAGE} nodes {{ {nodes} }} }} }} }}
}}"""


@pytest.fixture(scope="module")
def pulls(server: SimulatorServer) -> dict[str, list[dict[str, Any]]]:
    """Every acme PR, by repository, newest first."""
    with github(server, "acme") as client:
        repos = connection_all(
            client, REPOS, "OrgRepositories", ["organization", "repositories"], org="acme", first=3
        )
        return {
            r["name"]: connection_all(
                client,
                PULLS,
                "RepoPullRequests",
                ["repository", "pullRequests"],
                owner="acme",
                name=r["name"],
                first=7,
                nested=5,
            )
            for r in repos
        }


def test_repositories_and_pull_requests_cover_the_truth(
    server: SimulatorServer, pulls: dict[str, list[dict[str, Any]]]
) -> None:
    truth = server.truth("github", "acme")
    assert sorted(pulls) == sorted(r.split("/")[1] for r in truth["repositories"])
    assert any(name.startswith("api-") for name in pulls)
    assert any(not name.startswith("api-") for name in pulls)
    ids = [pr["id"] for prs in pulls.values() for pr in prs]
    assert len(ids) == len(set(ids))
    assert set(ids) == {p["id"] for p in truth["pull_requests"]}
    for prs in pulls.values():
        updated = [pr["updatedAt"] for pr in prs]
        assert updated == sorted(updated, reverse=True)


def test_pull_requests_have_every_state_and_name_jira_keys(
    pulls: dict[str, list[dict[str, Any]]],
) -> None:
    prs = [pr for prs in pulls.values() for pr in prs]
    states = Counter(("DRAFT" if pr["isDraft"] else pr["state"]) for pr in prs)
    assert set(states) == {"DRAFT", "OPEN", "CLOSED", "MERGED"}
    key = re.compile(r"\bACME[1-3]-\d+\b")
    assert any(key.match(pr["title"]) for pr in prs)
    assert any(
        pr["headRefName"].startswith("feature/ACME") and not key.search(pr["title"]) for pr in prs
    )
    reviews = [r for pr in prs for r in pr["reviews"]["nodes"]]
    assert {r["state"] for r in reviews} == {"APPROVED", "CHANGES_REQUESTED", "COMMENTED"}
    assert any(r["author"] is None for r in reviews)
    assert any(pr["author"] is None for pr in prs)
    merged = [pr for pr in prs if pr["state"] == "MERGED"]
    assert all(pr["mergedAt"] and pr["mergedBy"] for pr in merged)


def test_ids_listing_is_in_number_order(server: SimulatorServer) -> None:
    with github(server, "acme") as client:
        nodes = connection_all(
            client,
            IDS,
            "RepoPullRequestIds",
            ["repository", "pullRequests"],
            owner="acme",
            name="api-gateway",
            first=10,
        )
    numbers = [n["number"] for n in nodes]
    assert numbers == sorted(numbers)
    assert numbers[0] == 1


@pytest.mark.parametrize(
    ("operation", "connection", "nodes"),
    [
        ("PullRequestCommits", "commits", "commit { oid message }"),
        ("PullRequestReviews", "reviews", "id databaseId state"),
        ("PullRequestComments", "comments", "id databaseId body"),
        ("PullRequestReviewThreads", "reviewThreads", "id path comments(first: 5) { totalCount }"),
    ],
)
def test_nested_connections_page_beyond_one_page(
    server: SimulatorServer,
    pulls: dict[str, list[dict[str, Any]]],
    operation: str,
    connection: str,
    nodes: str,
) -> None:
    prs = [pr for prs in pulls.values() for pr in prs]
    big = [pr for pr in prs if pr[connection]["totalCount"] > 100]
    assert big, f"some PR must have more than 100 {connection}"
    pr = big[0]
    assert pr[connection]["pageInfo"]["hasNextPage"]
    with github(server, "acme") as client:
        items = connection_all(
            client,
            _nested(operation, connection, nodes),
            operation,
            ["node", connection],
            id=pr["id"],
            first=45,
        )
    keys = [item.get("id") or item["commit"]["oid"] for item in items]
    assert len(keys) == len(set(keys)) == pr[connection]["totalCount"]


def test_review_thread_comments_page_through_the_thread_node(
    server: SimulatorServer,
    pulls: dict[str, list[dict[str, Any]]],
) -> None:
    threads = [
        t
        for prs in pulls.values()
        for pr in prs
        for t in pr["reviewThreads"]["nodes"]
        if t["comments"]["totalCount"] > 100
    ]
    assert threads
    query = f"""query ThreadComments($id: ID!, $first: Int!, $after: String) {{
      node(id: $id) {{ ... on PullRequestReviewThread {{ comments(first: $first, after: $after) {{
        {PAGE} nodes {{ id }} }} }} }} }}"""
    with github(server, "acme") as client:
        items = connection_all(
            client, query, "ThreadComments", ["node", "comments"], id=threads[0]["id"], first=100
        )
    assert len({i["id"] for i in items}) == threads[0]["comments"]["totalCount"]


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        (
            'query Q { repository(owner: "acme", name: "api-gateway") { pullRequests(first: 101) '
            "{ totalCount } } }",
            {},
            "exceeds the `first` limit",
        ),
        (
            'query Q { repository(owner: "acme", name: "api-gateway") { pullRequests '
            "{ totalCount } } }",
            {},
            "must provide a `first`",
        ),
        ("query Q { viewer { login shoeSize } }", {}, "doesn't exist on type 'User'"),
        (
            'query Q($a: String) { repository(owner: "acme", name: "api-gateway") { '
            "pullRequests(first: 1, after: $a) { totalCount } } }",
            {"a": "bm9wZQ=="},
            "invalid value",
        ),
        ("query Q { viewer { login }", {}, "Parse error"),
    ],
)
def test_invalid_queries_answer_errors_without_data(
    server: SimulatorServer, query: str, variables: dict[str, Any], message: str
) -> None:
    with github(server, "acme") as client:
        response = client.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    assert response.status_code == 200
    assert "data" not in body
    assert message in body["errors"][0]["message"]


def test_missing_objects_are_null_with_not_found(server: SimulatorServer) -> None:
    query = """query Q { rateLimit { cost remaining }
      repository(owner: "acme", name: "nope") { id } node(id: "PR_kwDOZ2xvYmV4LzE") { id } }"""
    with github(server, "acme") as client:
        body = client.post("/graphql", json={"query": query}).json()
    assert body["data"]["repository"] is None
    assert body["data"]["node"] is None
    assert [e["type"] for e in body["errors"]] == ["NOT_FOUND", "NOT_FOUND"]
    assert body["data"]["rateLimit"]["cost"] == 1


def test_rate_limit_is_reported_only_when_asked(server: SimulatorServer) -> None:
    with github(server, "globex") as client:
        asked = gql(
            client,
            PULLS,
            "RepoPullRequests",
            owner="globex",
            name="api-gateway",
            first=50,
            nested=100,
        )
        plain = gql(client, IDS, "RepoPullRequestIds", owner="globex", name="api-gateway", first=5)
    # GitHub's formula: one request per connection per parent (1 + 50 * 4 + 50 * 100 thread
    # comment connections), divided by 100 and rounded.
    assert asked["rateLimit"]["cost"] == 52
    assert set(asked["rateLimit"]) == {"cost", "remaining", "resetAt", "limit"}
    assert "rateLimit" not in plain


def test_aliases_fragments_directives_and_nodes_by_ids(
    server: SimulatorServer, pulls: dict[str, list[dict[str, Any]]]
) -> None:
    first, second = pulls["api-gateway"][:2]
    query = """
    query Many($ids: [ID!]!, $id: ID!, $after: String, $skip: Boolean!) {
      nodes(ids: $ids) { ...Brief }
      n0: node(id: $id) { ... on PullRequest {
        threads: reviewThreads(first: 1, after: $after) { edges { cursor } nodes { id } } } }
      rateLimit @skip(if: $skip) { cost }
    }
    fragment Brief on PullRequest { id number title @include(if: true) }"""
    with github(server, "acme") as client:
        body = client.post(
            "/graphql",
            json={
                "query": query,
                "operationName": "Many",
                "variables": {
                    "ids": [first["id"], "PR_kwDOeA", second["id"]],
                    "id": first["id"],
                    "after": None,
                    "skip": True,
                },
            },
        ).json()
    nodes = body["data"]["nodes"]
    assert [n and n["number"] for n in nodes] == [first["number"], None, second["number"]]
    assert set(nodes[0]) == {"id", "number", "title"}
    assert body["errors"][0]["path"] == ["nodes", 1]
    assert "rateLimit" not in body["data"]
    threads = body["data"]["n0"]["threads"]
    assert len(threads["edges"]) == len(threads["nodes"]) <= 1
