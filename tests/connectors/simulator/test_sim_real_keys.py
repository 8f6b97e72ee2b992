"""Every key that recorded real payloads carry, in the parts a transform reads, is also in the
simulator's payloads (so a connector tested against the simulator reads real data too)."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from connectors.simulator import SimulatorServer

from .helpers import github, jira, offset_pages, search_all

REAL = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "real"

ISSUE_ROOTS = (
    "id",
    "key",
    "fields.summary",
    "fields.status",
    "fields.issuetype",
    "fields.project",
    "fields.priority",
    "fields.resolution",
    "fields.resolutiondate",
    "fields.assignee",
    "fields.labels",
    "fields.parent",
    "fields.created",
    "fields.updated",
    "changelog.startAt",
    "changelog.maxResults",
    "changelog.total",
    "changelog.histories[].id",
    "changelog.histories[].created",
    "changelog.histories[].author",
    "changelog.histories[].items[]",
)
HISTORY_ROOTS = ("id", "created", "author", "items[]")
STATUS_ROOTS = ("id", "name", "statusCategory")
PROJECT_ROOTS = ("id", "key", "name")
SPRINT_ROOTS = ("id", "name", "state", "startDate", "endDate", "completeDate")

PULLS = """
query RepoPullRequests($owner: String!, $name: String!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequests(first: 50, after: $after, orderBy: {field: UPDATED_AT, direction: DESC}) {
      totalCount pageInfo { hasNextPage endCursor }
      nodes {
        additions body changedFiles closedAt createdAt deletions isDraft number mergedAt state
        title updatedAt url baseRefName headRefName
        author { login type name html_url }
        commits(first: 5) { totalCount nodes { commit { oid } } }
        comments(first: 5) { totalCount }
        labels(first: 10) { pageInfo { hasNextPage endCursor } nodes { name } }
        files(first: 10) { pageInfo { hasNextPage endCursor } nodes { path additions deletions } }
        reviews(first: 10) { pageInfo { hasNextPage endCursor } nodes {
          author { login type name html_url } state submittedAt updatedAt url databaseId body
          comments(first: 1) { totalCount } } }
        reviewRequests(first: 10) { pageInfo { hasNextPage endCursor } nodes { asCodeOwner
          requestedReviewer {
            ... on User { login type name html_url }
            ... on Team { type members(first: 10) { nodes { login type name html_url } } } } } }
        mergeCommit { oid }
        reviewEvents(first: 10) { nodes { __typename } }
        baseRepository { name owner { login } }
        headRepository { name owner { login } }
      }
    }
  }
}"""


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Dotted key paths; list items add `[]` (so every element's keys count)."""
    out: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            path = f"{prefix}.{key}" if prefix else key
            out.add(path)
            out |= key_paths(inner, path)
    elif isinstance(value, list):
        for inner in value:
            out |= key_paths(inner, prefix + "[]")
    return out


def within(paths: set[str], roots: tuple[str, ...]) -> set[str]:
    return {p for p in paths if any(p == r or p.startswith((r + ".", r + "[]")) for r in roots)}


def union(payloads: list[Any], roots: tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    for payload in payloads:
        out |= within(key_paths(payload), roots)
    return out


def jira_csv(name: str) -> list[Any]:
    csv.field_size_limit(sys.maxsize)
    text = (REAL / "jira" / f"_raw_jira_api_{name}.csv").read_text(encoding="utf-8").lstrip()
    return [json.loads(row["data"]) for row in csv.DictReader(io.StringIO(text))]


def faros_jira(stream: str) -> list[Any]:
    out = []
    with (REAL / "faros" / "jira-all-streams.log").open(encoding="utf-8") as log:
        for line in log:
            message = json.loads(line)
            if message["type"] == "RECORD" and message["record"]["stream"].endswith(
                f"__jira__{stream}"
            ):
                out.append(message["record"]["data"])
    return out


@pytest.fixture(scope="module")
def simulated(server: SimulatorServer) -> dict[str, list[Any]]:
    with jira(server, "acme") as client:
        issues = search_all(
            client,
            "project in (ACME1, ACME2, ACME3)",
            maxResults=100,
            fields=["*all"],
            expand="changelog",
        )
        overflow = [
            h
            for issue in issues[:20]
            for page in offset_pages(client, f"/rest/api/3/issue/{issue['id']}/changelog", 100)
            for h in page["values"]
        ]
        statuses = [
            s
            for key in ("ACME1", "ACME2", "ACME3")
            for t in client.get(f"/rest/api/3/project/{key}/statuses").json()
            for s in t["statuses"]
        ]
        projects = client.get("/rest/api/3/project/search").json()["values"]
        sprints = [
            s
            for board in (1, 2, 3)
            for page in offset_pages(client, f"/rest/agile/1.0/board/{board}/sprint", 50)
            for s in page["values"]
        ]
    return {
        "issues": issues,
        "histories": overflow,
        "statuses": statuses,
        "projects": projects,
        "sprints": sprints,
    }


@pytest.mark.parametrize(
    ("kind", "real", "roots"),
    [
        ("issues", lambda: jira_csv("issues") + faros_jira("issues"), ISSUE_ROOTS),
        ("histories", lambda: jira_csv("issue_changelogs"), HISTORY_ROOTS),
        ("statuses", lambda: jira_csv("status") + faros_jira("workflow_statuses"), STATUS_ROOTS),
        ("projects", lambda: jira_csv("projects") + faros_jira("projects"), PROJECT_ROOTS),
        ("sprints", lambda: jira_csv("sprints") + faros_jira("sprints"), SPRINT_ROOTS),
    ],
)
def test_jira_payloads_carry_every_real_key(
    simulated: dict[str, list[Any]], kind: str, real: Any, roots: tuple[str, ...]
) -> None:
    recorded = real()
    assert recorded, f"no recorded {kind}"
    expected = union(recorded, roots)
    assert len(expected) >= len(roots)
    missing = expected - union(simulated[kind], roots)
    assert not missing, f"simulated {kind} lack real keys: {sorted(missing)}"


def test_github_pull_requests_carry_every_real_key(server: SimulatorServer) -> None:
    recorded = json.loads((REAL / "faros" / "github-graphql-pull-requests.json").read_text())
    expected = {
        p for nodes in recorded["repository"]["pullRequests"]["nodes"] for p in key_paths(nodes)
    }
    simulated: set[str] = set()
    repositories = server.truth("github", "acme")["repositories"]
    with github(server, "acme") as client:
        for full_name in repositories:
            after = None
            while True:
                body = client.post(
                    "/graphql",
                    json={
                        "query": PULLS,
                        "variables": {
                            "owner": "acme",
                            "name": full_name.split("/")[1],
                            "after": after,
                        },
                    },
                ).json()
                assert "errors" not in body, body["errors"]
                connection = body["data"]["repository"]["pullRequests"]
                for node in connection["nodes"]:
                    simulated |= key_paths(node)
                if not connection["pageInfo"]["hasNextPage"]:
                    break
                after = connection["pageInfo"]["endCursor"]
    missing = expected - simulated
    assert not missing, f"simulated PRs lack real keys: {sorted(missing)}"
