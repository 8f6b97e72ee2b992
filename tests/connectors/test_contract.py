"""The contract every stream passes, run against the local simulator (connectors/simulator).

Pagination ends; a stored cursor resumes at the next page without refetching; the incremental
window is respected; 429, 5xx and truncated answers are retried; bad credentials are fatal with
a message naming the integration; overflowing changelogs and nested connections are complete;
records validate.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.base import ExtractWindow, RawItem, Stream
from connectors.records import parse_timestamp
from connectors.simulator import SimulatorConfig, SimulatorServer
from pulse.errors import FatalError
from tests.connectors.sim_env import SITE, Env, drain, items_of, requests_of

CONFIG = SimulatorConfig(
    seed=5,
    sites=(SITE,),
    issues_per_site=200,
    projects_per_site=3,
    max_histories=240,  # some changelogs overflow the 100 the search embeds
    repos_per_site=1,
    prs_per_site=120,  # every 23rd PR has more than 100 commits, reviews, comments, threads
)
OVERLAP = 300


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(CONFIG) as running:
        yield running


@pytest.fixture
def env(server: SimulatorServer) -> Iterator[Env]:
    server.clear_faults()
    server.reset_stats()
    yield Env(server)
    server.clear_faults()


Build = Callable[[Env, ExtractWindow, str], Stream]


@dataclass(frozen=True)
class Case:
    id: str
    entity: str
    system: str  # "jira" | "github"
    build: Build
    fault_on: dict[str, str]  # inject_fault options that hit this stream's main request
    incremental: bool = False
    paged: bool = True  # the simulator's data spans several pages

    def stream(
        self, env: Env, window: ExtractWindow | None = None, token: str | None = None
    ) -> Stream:
        from tests.connectors.sim_env import TOKEN

        return self.build(
            env, window or ExtractWindow(None, overlap_seconds=OVERLAP), token or TOKEN
        )


def _jira(entity: str, settings: dict[str, Any] | None = None, **kw: Any) -> Build:
    def build(env: Env, window: ExtractWindow, token: str) -> Stream:
        streams = env.jira_streams(
            window, token=token, settings=settings, deletion_sweep=True, **kw
        )
        return next(s for s in streams if s.key.entity == entity)

    return build


def _dev_status(env: Env, window: ExtractWindow, token: str) -> Stream:
    ids = [i["id"] for i in env.jira_truth()["issues"][:45]]
    streams = env.jira_streams(
        window, token=token, settings={"development_links": True}, dev_status_issue_ids=ids
    )
    return next(s for s in streams if s.key.entity == "jira.dev_status")


def _github(entity: str, settings: dict[str, Any] | None = None) -> Build:
    def build(env: Env, window: ExtractWindow, token: str) -> Stream:
        streams = env.github_streams(window, token=token, settings=settings, deletion_sweep=True)
        return next(s for s in streams if s.key.entity == entity)

    return build


SERVER = {"deployment": "server"}
CASES = [
    Case(
        "jira.field",
        "jira.field",
        "jira",
        _jira("jira.field"),
        {"match": "jira.field"},
        paged=False,
    ),
    Case(
        "jira.project",
        "jira.project",
        "jira",
        _jira("jira.project"),
        {"match": "jira.project_search"},
        paged=False,
    ),
    Case(
        "jira.issue_type",
        "jira.issue_type",
        "jira",
        _jira("jira.issue_type"),
        {"match": "jira.issuetype"},
        paged=False,
    ),
    Case(
        "jira.status",
        "jira.status",
        "jira",
        _jira("jira.status"),
        {"match": "jira.project_statuses"},
    ),
    Case(
        "jira.board",
        "jira.board",
        "jira",
        _jira("jira.board"),
        {"match": "jira.boards"},
        paged=False,
    ),
    Case(
        "jira.sprint", "jira.sprint", "jira", _jira("jira.sprint"), {"match": "jira.board_sprints"}
    ),
    Case(
        "jira.issue",
        "jira.issue",
        "jira",
        _jira("jira.issue", {"page_size": 40}),
        {"match": "jira.search_jql"},
        incremental=True,
    ),
    Case(
        "jira.issue[server]",
        "jira.issue",
        "jira",
        _jira("jira.issue", {**SERVER, "page_size": 40}),
        {"match": "jira.search_v2"},
        incremental=True,
    ),
    Case(
        "jira.issue_id",
        "jira.issue_id",
        "jira",
        _jira("jira.issue_id"),
        {"match": "jira.search_jql"},
        paged=False,
    ),
    Case(
        "jira.issue_id[server]",
        "jira.issue_id",
        "jira",
        _jira("jira.issue_id", {**SERVER, "page_size": 100}),
        {"match": "jira.search_v2"},
    ),
    Case("jira.dev_status", "jira.dev_status", "jira", _dev_status, {"match": "jira.dev_status"}),
    Case(
        "github.repository",
        "github.repository",
        "github",
        _github("github.repository"),
        {"operation": "OrgRepositories"},
        paged=False,
    ),
    Case(
        "github.pull_request",
        "github.pull_request",
        "github",
        _github("github.pull_request", {"page_size": 15}),
        {"operation": "RepoPullRequests"},
        incremental=True,
    ),
    Case(
        "github.pull_request_id",
        "github.pull_request_id",
        "github",
        _github("github.pull_request_id"),
        {"operation": "RepoPullRequestIds"},
    ),
]
CASE_IDS = [case.id for case in CASES]


def _validate(item: RawItem, case: Case) -> None:
    assert item.entity == case.entity
    assert isinstance(item.external_id, str)
    assert item.external_id
    moment = parse_timestamp(item.version)  # ISO 8601 ...
    assert item.version.endswith("+00:00")  # ... in UTC
    assert moment.utcoffset() == timedelta(0)
    assert isinstance(item.payload, dict)
    json.dumps(item.payload)  # storable as a JSON document


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_pagination_ends_and_records_validate(case: Case, env: Env) -> None:
    pages = drain(case.stream(env))
    items = items_of(pages)
    assert items
    for item in items:
        _validate(item, case)
    if case.paged:
        assert len(pages) > 1
    # Page.requests is what the source actually served.
    assert requests_of(pages) == env.sim.stats()["total"]
    if case.entity in ("jira.issue", "jira.issue_id"):
        assert sorted(i.external_id for i in items) == sorted(
            i["id"] for i in env.jira_truth()["issues"]
        )
    if case.entity == "github.pull_request":
        repo = case.stream(env).key.scope.removeprefix("repo:")
        expected = [p for p in env.github_truth()["pull_requests"] if p["repository"] == repo]
        assert sorted(i.external_id for i in items) == sorted(p["id"] for p in expected)
        assert {i.external_id: i.version for i in items} == {
            p["id"]: parse_timestamp(p["updatedAt"]).isoformat(timespec="milliseconds")
            for p in expected
        }


@pytest.mark.parametrize("case", [c for c in CASES if c.paged], ids=lambda c: c.id)
def test_resume_from_stored_cursor_continues_at_next_page(case: Case, env: Env) -> None:
    full = drain(case.stream(env))
    first = case.stream(env).fetch_page(None)
    assert first.next_cursor is not None
    stored = json.loads(json.dumps(first.next_cursor))
    env.sim.reset_stats()
    rest = drain(case.stream(env), stored)  # a fresh process: only the cursor survives
    assert [i.external_id for i in [*first.items, *items_of(rest)]] == [
        i.external_id for i in items_of(full)
    ]
    assert first.requests + requests_of(rest) == requests_of(full)  # no page fetched twice
    assert env.sim.stats()["total"] == requests_of(rest)


@pytest.mark.parametrize("case", [c for c in CASES if c.incremental], ids=lambda c: c.id)
def test_incremental_window_is_respected(case: Case, env: Env) -> None:
    if case.system == "jira":
        stamps = sorted(parse_timestamp(i["updated_utc"]) for i in env.jira_truth()["issues"])
    else:
        repo = case.stream(env).key.scope.removeprefix("repo:")
        stamps = sorted(
            parse_timestamp(p["updatedAt"])
            for p in env.github_truth()["pull_requests"]
            if p["repository"] == repo
        )
    since = stamps[len(stamps) * 3 // 4]
    window = ExtractWindow(since, overlap_seconds=OVERLAP)
    items = items_of(drain(case.stream(env, window)))
    versions = [parse_timestamp(i.version) for i in items]
    # Nothing older than since - overlap (Jira reads whole minutes, so one more minute) ...
    slack = timedelta(seconds=OVERLAP + (60 if case.system == "jira" else 0))
    assert min(versions) >= since - slack
    # ... and everything updated since the watermark is there.
    assert sum(v >= since for v in versions) == sum(s >= since for s in stamps)
    assert len(items) < len(stamps)


_FULL_RUNS: dict[str, list[str]] = {}


def _full_run_ids(case: Case, env: Env) -> list[str]:
    """The item ids of an undisturbed run (the module's simulator data does not change)."""
    if case.id not in _FULL_RUNS:
        _FULL_RUNS[case.id] = [i.external_id for i in items_of(drain(case.stream(env)))]
        env.sim.reset_stats()
    return _FULL_RUNS[case.id]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_retriable_failures_are_retried(case: Case, env: Env) -> None:
    expected = _full_run_ids(case, env)
    # Consecutive requests of this stream answer 429, 502, 504, then half a JSON body.
    kinds = ["429", "502", "504", "truncated"]
    for kind in kinds:
        env.sim.inject_fault(kind, count=1, site=SITE, system=case.system, **case.fault_on)
    pages = drain(case.stream(env))
    assert [i.external_id for i in items_of(pages)] == expected
    served = {f["kind"]: f["served"] for f in env.sim.simulator.faults.describe()}
    assert served == dict.fromkeys(kinds, 1), "a fault never hit this stream's requests"
    assert env.sleeps[0] == 1.0  # the 429's Retry-After, honoured
    assert requests_of(pages) == env.sim.stats()["total"]  # failed attempts are counted too


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_bad_credentials_are_fatal_and_name_the_integration(case: Case, env: Env) -> None:
    with pytest.raises(FatalError) as caught:
        drain(case.stream(env, token="revoked-token-value"))
    message = str(caught.value)
    assert f"{'Jira' if case.system == 'jira' else 'GitHub'} (" in message
    assert "token" in message or "password" in message  # which credential failed
    assert "revoked-token-value" not in message
    assert env.sim.stats()["total"] == 1  # fatal at once, not retried


@pytest.mark.parametrize("case", [c for c in CASES if c.entity == "jira.issue"], ids=lambda c: c.id)
def test_overflowing_changelogs_are_complete(case: Case, env: Env) -> None:
    items = items_of(drain(case.stream(env)))
    histories = [i.payload["changelog"] for i in items]
    assert all(len(c["histories"]) == c["total"] for c in histories)
    assert any(c["total"] > 100 for c in histories)
    assert sum(c["total"] for c in histories) == env.jira_truth()["counts"]["histories"]


def test_pull_request_nested_connections_are_complete(env: Env) -> None:
    truth = env.github_truth()
    streams = env.github_streams(ExtractWindow(None), settings={"page_size": 15})
    prs = [
        i.payload
        for s in streams
        if s.key.entity == "github.pull_request"
        for i in items_of(drain(s))
    ]
    counts = truth["counts"]
    for name, key in (
        ("commits", "commits"),
        ("reviews", "reviews"),
        ("comments", "comments"),
        ("reviewThreads", "review_threads"),
    ):
        assert sum(len(p[name]["nodes"]) for p in prs) == counts[key]
        assert not any(p[name]["pageInfo"]["hasNextPage"] for p in prs)
    thread_comments = sum(
        len(t["comments"]["nodes"]) for p in prs for t in p["reviewThreads"]["nodes"]
    )
    assert thread_comments == counts["review_thread_comments"]
    assert max(p["commits"]["totalCount"] for p in prs) > 100


def test_updates_during_a_run_are_not_skipped() -> None:
    """Issues touched between pages move to the end of the `updated` order: they are read
    (again) later in the same run, and nothing else is skipped."""
    config = SimulatorConfig(
        seed=8,
        sites=(SITE,),
        issues_per_site=120,
        max_histories=20,
        prs_per_site=10,
        repos_per_site=1,
    )
    with SimulatorServer(config) as server:
        env = Env(server)
        stream = CASES[CASE_IDS.index("jira.issue")].stream(env)
        first = stream.fetch_page(None)
        seen = [i.external_id for i in first.items]
        touched = server.touch("jira", SITE, ids=seen[:3])
        rest = items_of(drain(stream, json.loads(json.dumps(first.next_cursor))))
        ids = seen + [i.external_id for i in rest]
        assert set(ids) == {i["id"] for i in env.jira_truth()["issues"]}
        assert set(touched) <= {i.external_id for i in rest}
        newest = max(parse_timestamp(i.version) for i in rest)
        assert newest >= datetime.now(UTC) - timedelta(minutes=5)
