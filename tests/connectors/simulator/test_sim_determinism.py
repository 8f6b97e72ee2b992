"""Same seed, same bytes; another seed, other data; a site's data ignores the other sites."""

from __future__ import annotations

import json
from dataclasses import replace

from connectors.simulator import SimRequest, Simulator, SimulatorConfig

from .helpers import CONFIG

_JIRA_AUTH = {"authorization": "Basic c3luY0BleGFtcGxlLmNvbTpzaW0tdG9rZW4="}  # sync@...:sim-token
_GITHUB_AUTH = {"authorization": "bearer sim-token"}
_PULLS = """query RepoPullRequests($first: Int!) { repository(owner: "acme", name: "api-gateway") {
  pullRequests(first: $first, orderBy: {field: UPDATED_AT, direction: DESC}) { nodes {
    id title state updatedAt author { login } commits(first: 3) { nodes { commit { oid } } }
    reviews(first: 3) { nodes { state body } } } } } }"""


def _payloads(sim: Simulator, site: str = "acme") -> list[bytes]:
    key = site.upper()
    search = {
        "jql": f"project in ({key}1, {key}2) ORDER BY key ASC",
        "maxResults": 40,
        "fields": ["*all"],
        "expand": "changelog",
    }
    requests = [
        SimRequest(
            "POST",
            f"/jira/{site}/rest/api/3/search/jql",
            {},
            _JIRA_AUTH,
            json.dumps(search).encode(),
        ),
        SimRequest(
            "GET", f"/jira/{site}/rest/api/3/project/search", {"expand": "issueTypes"}, _JIRA_AUTH
        ),
        SimRequest("GET", f"/jira/{site}/rest/agile/1.0/board/2/sprint", {}, _JIRA_AUTH),
        SimRequest("GET", f"/jira/{site}/rest/api/3/issue/{key}1-6/changelog", {}, _JIRA_AUTH),
    ]
    if site == "acme":
        requests.append(
            SimRequest(
                "POST",
                "/github/acme/graphql",
                {},
                _GITHUB_AUTH,
                json.dumps({"query": _PULLS, "variables": {"first": 20}}).encode(),
            )
        )
    out = []
    for request in requests:
        response = sim.handle(request)
        assert response.status == 200, response.body[:300]
        out.append(response.body)
    return out


def test_same_seed_gives_identical_payloads() -> None:
    assert _payloads(Simulator(CONFIG)) == _payloads(Simulator(CONFIG))


def test_another_seed_gives_other_data() -> None:
    first = _payloads(Simulator(CONFIG))
    second = _payloads(Simulator(replace(CONFIG, seed=CONFIG.seed + 1)))
    assert [a == b for a, b in zip(first, second, strict=True)] == [False] * len(first)


def test_a_site_does_not_depend_on_the_other_sites() -> None:
    alone = Simulator(replace(CONFIG, sites=("globex",)))
    together = Simulator(replace(CONFIG, sites=("initech", "globex", "acme")))
    assert _payloads(alone, "globex") == _payloads(together, "globex")


def test_sites_differ_from_each_other() -> None:
    sim = Simulator(SimulatorConfig(seed=5))
    acme, globex = sim.truth("jira", "acme"), sim.truth("jira", "globex")
    assert [i["updated"][:19] for i in acme["issues"]] != [
        i["updated"][:19] for i in globex["issues"]
    ]
