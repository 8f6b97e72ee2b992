"""Clients and small helpers shared by the simulator tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from connectors.simulator import SimulatorConfig, SimulatorServer

# Small enough to page through everything quickly, big enough for every shape to occur:
# overflowing changelogs (max_histories > 100), big PRs (every 23rd), two sites.
CONFIG = SimulatorConfig(
    seed=11,
    sites=("acme", "globex"),
    issues_per_site=240,
    projects_per_site=3,
    max_histories=260,
    repos_per_site=4,
    prs_per_site=96,
)
EMAIL = "sync@example.com"
TOKEN = "sim-test-token"

PR_FIELDS = """
  id databaseId number title body url state isDraft createdAt updatedAt closedAt mergedAt
  additions deletions changedFiles headRefName baseRefName
  author { login } mergedBy { login } repository { id nameWithOwner }
"""
PAGE = "totalCount pageInfo { hasNextPage endCursor }"


def jira(server: SimulatorServer, site: str, token: str = TOKEN) -> httpx.Client:
    return httpx.Client(base_url=server.jira_url(site), auth=(EMAIL, token), timeout=30)


def github(server: SimulatorServer, site: str, token: str = TOKEN) -> httpx.Client:
    return httpx.Client(
        base_url=server.github_url(site), headers={"Authorization": f"bearer {token}"}, timeout=30
    )


def gql(client: httpx.Client, query: str, operation: str, **variables: Any) -> dict[str, Any]:
    response = client.post(
        "/graphql", json={"query": query, "variables": variables, "operationName": operation}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def search_all(client: httpx.Client, jql: str, **extra: Any) -> list[dict[str, Any]]:
    """Every issue of a `search/jql` query, following nextPageToken."""
    issues: list[dict[str, Any]] = []
    token = None
    for _ in range(10_000):
        body = {"jql": jql, **extra, **({"nextPageToken": token} if token else {})}
        response = client.post("/rest/api/3/search/jql", json=body)
        assert response.status_code == 200, response.text
        page = response.json()
        issues.extend(page["issues"])
        token = page.get("nextPageToken")
        assert page["isLast"] is (token is None)
        if token is None:
            return issues
    raise AssertionError("search/jql never ended")


def offset_pages(client: httpx.Client, path: str, limit: int, **params: Any) -> Iterator[Any]:
    """Pages of a startAt/isLast endpoint."""
    start = 0
    for _ in range(10_000):
        response = client.get(path, params={**params, "startAt": start, "maxResults": limit})
        assert response.status_code == 200, response.text
        page = response.json()
        yield page
        if page["isLast"]:
            return
        assert page["values"], "a page that is not the last must not be empty"
        start += len(page["values"])
    raise AssertionError(f"{path} never ended")


def connection_all(
    client: httpx.Client, query: str, operation: str, path: list[str], **variables: Any
) -> list[dict[str, Any]]:
    """Every node of a GraphQL connection at `path`, following endCursor."""
    nodes: list[dict[str, Any]] = []
    after = None
    for _ in range(10_000):
        data: Any = gql(client, query, operation, after=after, **variables)
        for key in path:
            data = data[key]
        nodes.extend(data["nodes"])
        info = data["pageInfo"]
        if not info["hasNextPage"]:
            assert len(nodes) == data["totalCount"]
            return nodes
        after = info["endCursor"]
    raise AssertionError(f"{operation} never ended")
