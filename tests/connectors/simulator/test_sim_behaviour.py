"""Auth, per-credential rate limits, injected faults, request counts, truth, touch and delete."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx
import pytest

from connectors.simulator import Simulator, SimulatorServer

from .helpers import CONFIG, EMAIL, TOKEN, connection_all, github, gql, jira, search_all

MYSELF = "/rest/api/3/myself"
VIEWER = "query Viewer { viewer { login } rateLimit { cost remaining resetAt limit } }"
IDS = """query RepoPullRequests($owner: String!, $name: String!, $first: Int!, $after: String) {
  repository(owner: $owner, name: $name) { pullRequests(first: $first, after: $after,
    orderBy: {field: UPDATED_AT, direction: DESC}) {
    totalCount pageInfo { hasNextPage endCursor } nodes { id updatedAt } } } }"""


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _viewer(client: httpx.Client) -> httpx.Response:
    return client.post("/graphql", json={"query": VIEWER, "operationName": "Viewer"})


def test_bad_credentials_answer_401_like_the_real_apis(server: SimulatorServer) -> None:
    with jira(server, "acme", token="wrong") as client:
        assert client.get(MYSELF).status_code == 401
    assert httpx.get(server.jira_url("acme") + MYSELF).status_code == 401
    with jira(server, "acme") as client:
        assert client.get(MYSELF).status_code == 200
    with github(server, "acme", token="ghp_real") as client:
        response = _viewer(client)
    assert response.status_code == 401
    assert response.json()["message"] == "Bad credentials"


def test_rate_limit_is_per_credential_and_shared_across_sites() -> None:
    clock = Clock()
    sim = Simulator(replace(CONFIG, rate_limit=5, rate_window_seconds=60), clock=clock)
    with SimulatorServer(sim) as server:
        with jira(server, "acme") as acme, jira(server, "globex") as globex:
            answers = [acme.get(MYSELF) for _ in range(3)] + [globex.get(MYSELF) for _ in range(3)]
        with jira(server, "globex", token="sim-other") as other:
            assert other.get(MYSELF).status_code == 200
        with github(server, "acme") as gh_acme, github(server, "globex") as gh_globex:
            gh = [
                _viewer(gh_acme),
                _viewer(gh_globex),
                _viewer(gh_acme),
                _viewer(gh_globex),
                _viewer(gh_acme),
                _viewer(gh_globex),
            ]
            clock.now += 61
            after_reset = _viewer(gh_acme)
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["4", "3", "2", "1", "0", "0"]
    assert answers[-1].headers["Retry-After"] == "60"
    assert datetime.fromisoformat(answers[0].headers["X-RateLimit-Reset"].replace("Z", "+00:00"))
    assert [g.status_code for g in gh] == [200] * 5 + [403]  # GitHub's budget is separate
    assert gh[-1].headers["x-ratelimit-remaining"] == "0"
    assert gh[3].json()["data"]["rateLimit"]["remaining"] == 1
    assert int(gh[0].headers["x-ratelimit-reset"]) == int(clock.now - 61 + 60)
    assert after_reset.status_code == 200
    assert after_reset.headers["x-ratelimit-used"] == "1"


@pytest.mark.parametrize(
    ("system", "kind", "status", "header"),
    [
        ("jira", "429", 429, "Retry-After"),
        ("jira", "secondary", 429, "Retry-After"),
        ("jira", "primary", 429, "X-RateLimit-Remaining"),
        ("jira", "502", 502, None),
        ("jira", "504", 504, None),
        ("jira", "401", 401, None),
        ("github", "429", 429, "retry-after"),
        ("github", "secondary", 403, "retry-after"),
        ("github", "primary", 403, "x-ratelimit-remaining"),
        ("github", "502", 502, None),
        ("github", "504", 504, None),
        ("github", "401", 401, None),
    ],
)
def test_failure_faults_hit_the_next_matching_requests(
    fresh: SimulatorServer, system: str, kind: str, status: int, header: str | None
) -> None:
    fresh.inject_fault(kind, count=2, site="acme", system=system, retry_after=7)
    client = jira(fresh, "acme") if system == "jira" else github(fresh, "acme")
    other = jira(fresh, "globex") if system == "jira" else github(fresh, "globex")

    def call(c: httpx.Client) -> httpx.Response:
        return c.get(MYSELF) if system == "jira" else _viewer(c)

    with client, other:
        assert call(other).status_code == 200  # another site is not affected
        first, second, third = call(client), call(client), call(client)
    assert first.status_code == second.status_code == status
    assert third.status_code == 200
    if header is not None and header.lower() == "x-ratelimit-remaining":
        assert first.headers[header] == "0"
    elif header is not None:
        assert first.headers[header] == "7"
    if system == "github" and kind in ("429", "secondary"):
        assert "secondary rate limit" in first.json()["message"]


def test_slow_and_truncated_faults_alter_a_real_answer(fresh: SimulatorServer) -> None:
    fresh.inject_fault("slow", match="search/jql", delay=0.4)
    fresh.inject_fault("truncated", system="github", operation="Viewer")
    with jira(fresh, "acme") as client, github(fresh, "acme") as gh:
        fast = time.monotonic()
        client.get(MYSELF)
        fast = time.monotonic() - fast
        slow = time.monotonic()
        response = client.post("/rest/api/3/search/jql", json={"jql": "project = ACME1"})
        slow = time.monotonic() - slow
        cut = _viewer(gh)
        whole = _viewer(gh)
    assert response.status_code == 200
    assert slow >= 0.4 > fast
    assert cut.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        cut.json()
    assert whole.json()["data"]["viewer"]["login"]


def test_control_endpoints_over_http(fresh: SimulatorServer) -> None:
    base = fresh.base_url
    fault = httpx.post(f"{base}/_sim/faults", json={"kind": "504", "match": "jira.myself"})
    assert fault.status_code == 201
    with jira(fresh, "globex") as client:
        client.post("/rest/api/3/search/jql", json={"jql": "project = GLOBEX1"})
        assert client.get(MYSELF).status_code == 504
        assert client.get(MYSELF).status_code == 200
    listed = httpx.get(f"{base}/_sim/faults").json()["faults"]
    assert listed[0]["served"] == 1
    assert listed[0]["remaining"] == 0
    stats = httpx.get(f"{base}/_sim/stats").json()
    assert stats["by_endpoint"] == {"jira.myself": 2, "jira.search_jql": 1}
    assert stats["by_site"] == {"globex": 3}
    assert stats["by_status"] == {"200": 2, "504": 1}
    assert httpx.post(f"{base}/_sim/reset-stats").status_code == 200
    assert fresh.stats()["total"] == 0
    config = httpx.get(f"{base}/_sim/config").json()
    assert config["time_zones"]["acme"] == "Asia/Shanghai"


def test_touch_moves_issues_to_the_end_and_delete_removes_them(fresh: SimulatorServer) -> None:
    base = fresh.base_url
    before = fresh.truth("jira", "acme")
    touched = httpx.post(
        f"{base}/_sim/touch", json={"kind": "jira", "site": "acme", "count": 3}
    ).json()["touched"]
    deleted = fresh.delete("jira", "acme", ids=["ACME1-3"])  # a story with a sub-task
    truth = httpx.get(f"{base}/_sim/truth/jira/acme").json()
    jql = "project in (ACME1, ACME2, ACME3) ORDER BY updated ASC"
    with jira(fresh, "acme") as client:
        issues = search_all(client, jql, maxResults=100, fields=["updated"])
        since = search_all(
            client,
            'project in (ACME1, ACME2, ACME3) AND updated >= "2026-01-01 00:00"',
            maxResults=100,
        )
        gone = client.get(f"/rest/api/3/issue/{deleted[0]}/changelog")
        count = client.post("/rest/api/3/search/approximate-count", json={"jql": jql}).json()
    assert len(deleted) == 2  # the issue and its sub-task, as Jira deletes them
    assert [i["id"] for i in issues[-3:]] == touched
    assert {i["id"] for i in since} == set(touched)
    assert not set(deleted) & {i["id"] for i in issues}
    assert gone.status_code == 404
    assert count["count"] == len(issues) == before["counts"]["issues"] - 2
    assert truth["counts"]["issues"] == len(issues)
    by_id = {t["id"]: t for t in truth["issues"]}
    assert all(by_id[i["id"]]["updated"] == i["fields"]["updated"] for i in issues)


def test_touch_and_delete_pull_requests(fresh: SimulatorServer) -> None:
    before = fresh.truth("github", "acme")
    victim = next(p for p in before["pull_requests"] if p["repository"] == "acme/api-gateway")
    touched = fresh.touch("github", "acme", ids=["acme/api-gateway#2"])
    fresh.delete("github", "acme", ids=[victim["id"]])
    with github(fresh, "acme") as client:
        nodes = connection_all(
            client,
            IDS,
            "RepoPullRequests",
            ["repository", "pullRequests"],
            owner="acme",
            name="api-gateway",
            first=4,
        )
        node = client.post(
            "/graphql",
            json={
                "query": "query Q($id: ID!) { node(id: $id) { id } }",
                "variables": {"id": victim["id"]},
            },
        ).json()
        again = gql(client, IDS, "RepoPullRequests", owner="acme", name="api-gateway", first=1)
    after = fresh.truth("github", "acme")
    assert nodes[0]["id"] == touched[0]
    assert victim["id"] not in {n["id"] for n in nodes}
    assert node["data"]["node"] is None
    assert node["errors"][0]["type"] == "NOT_FOUND"
    assert again["repository"]["pullRequests"]["totalCount"] == len(nodes)
    assert after["counts"]["prs"] == before["counts"]["prs"] - 1
    assert after["counts"]["commits"] < before["counts"]["commits"]


def test_request_counts_name_endpoints_and_sites(fresh: SimulatorServer) -> None:
    with jira(fresh, "acme") as acme, github(fresh, "globex") as gh:
        acme.get("/rest/api/3/field")
        acme.get("/rest/api/3/project/search")
        acme.get("/rest/agile/1.0/board/1/sprint")
        acme.get("/rest/api/3/nothing-here")
        gql(gh, IDS, "RepoPullRequests", owner="globex", name="web-portal", first=1)
        _viewer(gh)
    stats: dict[str, Any] = fresh.stats()
    assert stats["by_site_endpoint"] == {
        "acme": {
            "jira.board_sprints": 1,
            "jira.field": 1,
            "jira.project_search": 1,
            "jira.unknown": 1,
        },
        "globex": {"github.RepoPullRequests": 1, "github.Viewer": 1},
    }
    assert stats["total"] == 6


def test_python_api_and_http_agree_on_credentials(fresh: SimulatorServer) -> None:
    response = httpx.get(fresh.jira_url("acme") + MYSELF, auth=(EMAIL, TOKEN))
    assert response.json()["emailAddress"] == EMAIL
    with pytest.raises(ValueError, match="unknown site"):
        fresh.jira_url("initech")


def test_offset_paging_after_a_delete_has_no_duplicates(fresh: SimulatorServer) -> None:
    def page(client: httpx.Client, start: int) -> list[str]:
        body = {"jql": "project = GLOBEX2", "startAt": start, "maxResults": 30, "fields": ["id"]}
        return [i["id"] for i in client.post("/rest/api/2/search", json=body).json()["issues"]]

    with jira(fresh, "globex") as client:
        before = page(client, 0) + page(client, 30) + page(client, 60)
        fresh.delete("jira", "globex", ids=[before[5]])
        resumed = page(client, 30)  # a run resuming at an offset, after the data changed
    assert resumed == [i for i in before if i != before[5]][30:60]
