"""200,000 issues cost little: lazy generation, binary-searched filters, no scans."""

from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from connectors.simulator import Simulator, SimulatorConfig, build_app

from .helpers import EMAIL, TOKEN

AUTH = (EMAIL, TOKEN)
PROJECTS = ", ".join(f"ACME{p}" for p in range(1, 9))


def test_a_large_site_starts_instantly_and_filters_without_scanning() -> None:
    config = SimulatorConfig(
        seed=4,
        sites=("acme",),
        issues_per_site=200_000,
        projects_per_site=8,
        prs_per_site=40_000,
        repos_per_site=60,
    )
    tracemalloc.start()
    started = time.perf_counter()
    sim = Simulator(config)
    built = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    with TestClient(build_app(sim)) as client:
        late = {
            "jql": f'project in ({PROJECTS}) AND updated >= "2025-12-30 00:00" '
            "ORDER BY updated ASC",
            "maxResults": 100,
            "fields": ["updated"],
        }
        started = time.perf_counter()
        count = client.post(
            "/jira/acme/rest/api/3/search/approximate-count", json=late, auth=AUTH
        ).json()
        page = client.post("/jira/acme/rest/api/3/search/jql", json=late, auth=AUTH).json()
        by_key = client.post(
            "/jira/acme/rest/api/3/search/jql",
            json={
                "jql": 'project = ACME8 AND updated >= "2025-12-01 00:00" ORDER BY key ASC',
                "maxResults": 100,
            },
            auth=AUTH,
        ).json()
        deep = client.post(
            "/jira/acme/rest/api/2/search",
            json={"jql": "project = ACME3", "startAt": 24_000, "maxResults": 10, "fields": ["id"]},
            auth=AUTH,
        ).json()
        newest = client.post(
            "/github/acme/graphql",
            headers={"Authorization": "bearer sim-x"},
            json={
                "query": 'query { repository(owner: "acme", name: "docs") { '
                "pullRequests(first: 5, orderBy: {field: UPDATED_AT, "
                "direction: DESC}) { totalCount nodes { number } } } }"
            },
        ).json()
        elapsed = time.perf_counter() - started
    assert built < 0.5
    assert peak < 2**20  # nothing is generated up front
    assert elapsed < 1.5
    # The bound is 2025-12-29 16:00 UTC in Shanghai; issues are spread evenly until 2025-12-31.
    bound = datetime(2025, 12, 29, 16, tzinfo=UTC)
    expected = (config.end - bound) / timedelta(days=config.history_days) * 200_000
    assert abs(count["count"] - expected) <= 2
    assert len(page["issues"]) == 100
    assert page["nextPageToken"]
    assert all(i["key"].startswith("ACME8-") for i in by_key["issues"])
    assert deep["total"] == 25_000
    assert len(deep["issues"]) == 10
    pulls = newest["data"]["repository"]["pullRequests"]
    assert pulls["totalCount"] == 40_000 // 60 + 1
    assert [n["number"] for n in pulls["nodes"]] == sorted(
        (n["number"] for n in pulls["nodes"]), reverse=True
    )
