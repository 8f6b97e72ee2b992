"""Request economy against the simulator: what a run costs in API calls.

Budgets: a Jira backfill of 1,000 issues (at most 100 histories each) in at most 12 requests,
1,000 pull requests in at most 25, and a run that finds nothing new in one request per scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from pydantic import SecretStr

from connectors import jira
from connectors.base import ExtractWindow
from connectors.records import parse_timestamp
from connectors.simulator import SimulatorConfig, SimulatorServer
from tests.connectors.sim_env import EMAIL, SITE, TOKEN, Env, drain, items_of, requests_of

CONFIG = SimulatorConfig(
    seed=21,
    sites=(SITE,),
    issues_per_site=1000,
    projects_per_site=3,
    max_histories=100,  # every changelog fits in the search answer
    repos_per_site=1,  # 1,000 pull requests in one repository
    prs_per_site=1000,  # with the usual share of big ones (every 23rd: > 100 of everything)
)


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with SimulatorServer(CONFIG) as server:
        yield Env(server)


def test_jira_backfill_of_1000_issues_costs_at_most_12_requests(env: Env) -> None:
    env.sim.reset_stats()
    streams = env.jira_streams(ExtractWindow(None), refresh_catalog=False)
    pages = drain(streams[0])
    assert len(items_of(pages)) == 1000
    # The field catalog (custom field ids), the approximate count, ten pages of 100.
    assert requests_of(pages) == env.sim.stats()["total"] == 12
    assert env.sim.stats()["by_endpoint"] == {
        "jira.field": 1,
        "jira.approximate_count": 1,
        "jira.search_jql": 10,
    }


def test_github_backfill_of_1000_pull_requests_costs_at_most_25_requests(env: Env) -> None:
    env.sim.reset_stats()
    (stream,) = env.github_streams(ExtractWindow(None), refresh_catalog=False)
    pages = drain(stream)
    prs = items_of(pages)
    assert len(prs) == 1000
    assert max(p.payload["commits"]["totalCount"] for p in prs) > 200
    # 20 pages of 50; the ~43 big pull requests completed together in 3 requests.
    assert requests_of(pages) == env.sim.stats()["total"] <= 25
    by_endpoint = env.sim.stats()["by_endpoint"]
    assert by_endpoint["github.RepoPullRequests"] == 20


def test_no_change_incremental_runs_cost_one_request_per_scope(env: Env) -> None:
    truth = env.jira_truth()
    newest = max(parse_timestamp(i["updated_utc"]) for i in truth["issues"])
    window = ExtractWindow(newest + timedelta(hours=1), overlap_seconds=300)
    # The worker keeps the site facts (time zone, field ids) from an earlier run.
    api = jira.JiraApi(
        jira.jira_http_client(env.jira_settings(), _jira_credentials()), env.jira_settings()
    )
    site = jira.discover_site(api)
    api.http.close()
    env.sim.reset_stats()
    (issues,) = env.jira_streams(window, refresh_catalog=False, site=site)
    assert items_of(drain(issues)) == []
    assert env.sim.stats()["total"] == 1

    prs = env.github_truth()["pull_requests"]
    newest_pr = max(parse_timestamp(p["updatedAt"]) for p in prs)
    env.sim.reset_stats()
    streams = env.github_streams(
        ExtractWindow(newest_pr + timedelta(hours=1)), refresh_catalog=False
    )
    assert [items_of(drain(s)) for s in streams] == [[]]
    assert env.sim.stats()["total"] == len(streams) == 1


def _jira_credentials() -> jira.JiraCredentials:
    return jira.JiraCredentials(email=EMAIL, api_token=SecretStr(TOKEN))
