from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors.base import ExtractWindow, Page, Stream
from connectors.budget import InMemoryBudget
from connectors.github import (
    GitHubCredentials,
    GitHubSettings,
    build_streams,
    pull_request_item,
    test_connection,
)
from connectors.http import RetryPolicy
from connectors.records import parse_timestamp
from pulse.errors import FatalError, RateLimitedError
from tests.connectors.fakes import FIXTURES, Sleeps
from tests.connectors.github.fake_github import FakeGitHub, make_pr, make_repo

TOKEN = "ghp_supersecret000"
CREDENTIALS = GitHubCredentials(token=SecretStr(TOKEN))


def settings(**overrides: Any) -> GitHubSettings:
    return GitHubSettings(**{"organization": "acme", **overrides})


def build(fake: FakeGitHub, window: ExtractWindow | None = None, **kw: Any) -> list[Stream]:
    return build_streams(
        kw.pop("settings", settings()),
        CREDENTIALS,
        window or ExtractWindow(None),
        transport=fake.transport,
        budget=InMemoryBudget(),
        sleep=kw.pop("sleep", Sleeps()),
        policy=RetryPolicy(max_retries=2, base_delay=0.01),
        **kw,
    )


def drain(stream: Stream, cursor: Any = None) -> list[Page]:
    pages = []
    while True:
        page = stream.fetch_page(cursor)
        pages.append(page)
        if page.next_cursor is None:
            return pages
        cursor = json.loads(json.dumps(page.next_cursor))


def pr_stream(streams: list[Stream], repo: str = "acme/api") -> Stream:
    return next(
        s for s in streams if s.key == s.key.__class__(f"repo:{repo}", "github.pull_request")
    )


def test_recorded_graphql_pull_requests_become_raw_items() -> None:
    recorded = json.loads((FIXTURES / "faros" / "github-graphql-pull-requests.json").read_text())
    fake = FakeGitHub()
    fake.intercept = lambda body: httpx.Response(200, json={"data": recorded})
    stream = pr_stream(
        build(fake, repositories=["faros-ai/faros-apps"], refresh_catalog=False),
        "faros-ai/faros-apps",
    )
    pages = drain(stream)
    items = [i for p in pages for i in p.items]
    nodes = recorded["repository"]["pullRequests"]["nodes"]
    assert len(items) == len(nodes) == 3
    for item, node in zip(items, nodes, strict=True):
        assert item.entity == "github.pull_request"
        assert item.external_id == node["url"]  # recorded without node ids
        assert parse_timestamp(item.version) == parse_timestamp(node["updatedAt"])
        assert item.version.endswith("+00:00")
        assert item.payload["commits"] == node["commits"]
    assert items[0].version == "2021-02-16T17:15:29.000+00:00"
    assert sum(p.requests for p in pages) == 1


def test_pull_request_item_prefers_node_id() -> None:
    item = pull_request_item(make_pr(7, "2024-03-01T10:00:00Z"))
    assert (item.external_id, item.version) == ("PR_acme/api_7", "2024-03-01T10:00:00.000+00:00")


def _repo_with_prs(fake: FakeGitHub, count: int, **kw: Any) -> None:
    fake.repositories = [make_repo("api")]
    fake.pull_requests["acme/api"] = [
        make_pr(n, f"2024-03-01T{n // 60:02d}:{n % 60:02d}:00Z", **kw) for n in range(count)
    ]


def test_pages_newest_first_and_stops_before_since_minus_overlap() -> None:
    fake = FakeGitHub()
    _repo_with_prs(fake, 30)
    window = ExtractWindow(datetime(2024, 3, 1, 0, 25, tzinfo=UTC), overlap_seconds=300)
    stream = pr_stream(
        build(
            fake,
            window,
            settings=settings(page_size=4),
            refresh_catalog=False,
            repositories=["acme/api"],
        )
    )
    items = [i for p in drain(stream) for i in p.items]
    assert [i.payload["number"] for i in items] == list(range(29, 19, -1))  # 00:29 .. 00:20
    prs = [v for op, v in fake.operations() if op == "RepoPullRequests"]
    assert len(prs) == 3  # stops at the first old PR instead of reading all 8 pages


def test_no_change_incremental_run_costs_one_request_per_repository() -> None:
    fake = FakeGitHub()
    _repo_with_prs(fake, 30)
    fake.pull_requests["acme/web"] = [make_pr(1, "2024-01-01T00:00:00Z", repo="acme/web")]
    window = ExtractWindow(datetime(2024, 3, 2, tzinfo=UTC))
    streams = build(fake, window, refresh_catalog=False, repositories=["acme/api", "acme/web"])
    pages = [p for s in streams for p in drain(s)]
    assert sum(len(p.items) for p in pages) == 0
    assert sum(p.requests for p in pages) == len(fake.recorder.requests) == 2


def test_resume_from_cursor_continues_at_next_page() -> None:
    fake = FakeGitHub()
    _repo_with_prs(fake, 10)
    cfg = settings(page_size=4)
    first = pr_stream(build(fake, settings=cfg, repositories=["acme/api"]))
    page1 = first.fetch_page(None)
    stored = json.loads(json.dumps(page1.next_cursor))
    fake.recorder.requests.clear()
    again = pr_stream(build(fake, settings=cfg, repositories=["acme/api"]))
    rest = drain(again, stored)
    numbers = [i.payload["number"] for i in page1.items] + [
        i.payload["number"] for p in rest for i in p.items
    ]
    assert numbers == list(range(9, -1, -1))
    assert fake.operations()[0][1]["after"] == "c:4"


def test_overflowing_pull_requests_are_completed_in_one_batch() -> None:
    fake = FakeGitHub()
    fake.pull_requests["acme/api"] = [
        make_pr(1, "2024-03-01T00:00:00Z", commits=230),
        make_pr(2, "2024-03-01T00:01:00Z", threads=3, thread_comments=70),
        *[make_pr(n, f"2024-03-01T00:{n:02d}:00Z") for n in range(3, 12)],
        make_pr(12, "2024-03-01T00:12:00Z", commits=120, threads=130),
    ]
    cfg = settings(page_size=5, nested_page_size=50)
    pages = drain(
        pr_stream(build(fake, settings=cfg, repositories=["acme/api"], refresh_catalog=False))
    )
    items = {i.payload["number"]: i.payload for p in pages for i in p.items}
    assert sorted(items) == list(range(1, 13))
    commits = items[1]["commits"]
    assert len(commits["nodes"]) == commits["totalCount"] == 230
    assert commits["pageInfo"]["hasNextPage"] is False
    assert len({c["commit"]["oid"] for c in commits["nodes"]}) == 230
    threads = items[2]["reviewThreads"]
    assert [len(t["comments"]["nodes"]) for t in threads["nodes"]] == [70, 70, 70]
    assert "edges" not in threads  # a paging aid, not stored
    assert len(items[12]["reviewThreads"]["nodes"]) == 130
    assert len(items[12]["commits"]["nodes"]) == 120
    ops = [op for op, _ in fake.operations()]
    # 3 listing pages; the 3 overflowing PRs wait in the cursor and are completed together:
    # re-read with 100-node pages, then one request per round for what is still open.
    assert ops == ["RepoPullRequests"] * 3 + ["PullRequestsByIds"] + ["PullRequestNestedPages"] * 2
    assert [len(p.items) for p in pages] == [4, 5, 3]
    assert pages[-1].requests == 4
    assert json.loads(json.dumps(pages[0].next_cursor))["pending"] == ["PR_acme/api_12"]


def test_page_size_halves_on_502_and_recovers() -> None:
    fake = FakeGitHub()
    _repo_with_prs(fake, 200)
    failures = {"left": 2}

    def gateway(body: dict[str, Any]) -> httpx.Response | None:
        if (
            body["operationName"] == "RepoPullRequests"
            and failures["left"] > 0
            and body["variables"]["first"] > 10
        ):
            failures["left"] -= 1
            return httpx.Response(502, text="<html>Bad gateway</html>")
        return None

    fake.intercept = gateway
    sleeps = Sleeps()
    stream = pr_stream(
        build(
            fake,
            settings=settings(page_size=40),
            repositories=["acme/api"],
            refresh_catalog=False,
            sleep=sleeps,
        )
    )
    cursor = None
    cursor_sizes = []
    for _ in range(5):
        page = stream.fetch_page(cursor)
        cursor = json.loads(json.dumps(page.next_cursor))
        cursor_sizes.append(cursor["size"])
    sizes = [v["first"] for op, v in fake.operations() if op == "RepoPullRequests"]
    # Two successful pages at a reduced size (the one that shrank counts) double it back.
    assert sizes == [40, 20, 10, 10, 20, 20, 40]
    assert cursor_sizes == [10, 20, 20, 40, 40]
    assert sleeps == []  # shrinking is immediate, not a backoff


def test_repository_patterns_and_enterprise_url() -> None:
    fake = FakeGitHub()
    fake.repositories = [make_repo(n) for n in ("api", "api-docs", "web", "Infra-live")]
    cfg = settings(
        repository_patterns=["api*", "acme/infra-*"], api_url="https://ghe.acme.test/api/v3"
    )
    streams = build(fake, settings=cfg)
    assert all(str(r.url) == "https://ghe.acme.test/api/graphql" for r in fake.recorder.requests)
    repos = drain(streams[0])
    assert [i.payload["name"] for p in repos for i in p.items] == ["api", "api-docs", "Infra-live"]
    assert [s.key.scope for s in streams[1:]] == [
        "repo:acme/api",
        "repo:acme/api-docs",
        "repo:acme/Infra-live",
    ]
    # The repository list read by build_streams is reused, not fetched twice.
    assert len(fake.recorder.requests) == 1
    assert repos[0].items[0].version == "2024-02-02T00:00:00.000+00:00"  # pushedAt is newer


def test_pull_request_id_sweep() -> None:
    fake = FakeGitHub()
    _repo_with_prs(fake, 130)
    streams = build(fake, repositories=["acme/api"], refresh_catalog=False, deletion_sweep=True)
    sweep = streams[-1]
    assert sweep.key.entity == "github.pull_request_id"
    pages = drain(sweep)
    ids = [i.external_id for p in pages for i in p.items]
    assert len(ids) == len(set(ids)) == 130
    assert len(pages) == 2


def test_bad_token_is_fatal_and_names_the_integration() -> None:
    fake = FakeGitHub()
    fake.intercept = lambda body: httpx.Response(401, json={"message": "Bad credentials"})
    with pytest.raises(FatalError) as caught:
        drain(pr_stream(build(fake, repositories=["acme/api"])))
    assert "GitHub (acme)" in str(caught.value)
    assert "GitHub access token" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_secondary_limit_is_slept_and_primary_limit_parks_the_job() -> None:
    fake = FakeGitHub()
    _repo_with_prs(fake, 3)
    answers = [
        httpx.Response(
            403,
            headers={"retry-after": "3"},
            json={"message": "You have exceeded a secondary rate limit."},
        ),
    ]
    fake.intercept = lambda body: answers.pop(0) if answers else None
    sleeps = Sleeps()
    stream = pr_stream(build(fake, repositories=["acme/api"], sleep=sleeps))
    assert len(stream.fetch_page(None).items) == 3
    assert sleeps == [3.0]
    reset = int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
    fake.intercept = lambda body: httpx.Response(
        403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        json={"message": "API rate limit exceeded"},
    )
    with pytest.raises(RateLimitedError) as caught:
        stream.fetch_page(None)
    assert caught.value.resume_at == datetime(2030, 1, 1, tzinfo=UTC)


def test_missing_repository_finishes_the_stream_empty() -> None:
    fake = FakeGitHub()
    fake.intercept = lambda body: httpx.Response(
        200,
        json={
            "data": {"repository": None},
            "errors": [{"type": "NOT_FOUND", "message": "Could not resolve to a Repository"}],
        },
    )
    pages = drain(pr_stream(build(fake, repositories=["acme/api"], refresh_catalog=False)))
    assert [len(p.items) for p in pages] == [0]


def test_connection_check() -> None:
    fake = FakeGitHub()
    check = test_connection(settings(), CREDENTIALS, transport=fake.transport)
    assert check.ok
    assert check.message == "Connected to GitHub (acme) as @octo (4990/5000 points left this hour)"
    fake.intercept = lambda body: httpx.Response(401, json={"message": "Bad credentials"})
    failed = test_connection(settings(), CREDENTIALS, transport=fake.transport)
    assert not failed.ok
    assert "GitHub access token" in failed.message


def test_heavy_completion_batch_is_split_on_504() -> None:
    fake = FakeGitHub()
    fake.pull_requests["acme/api"] = [
        make_pr(n, f"2024-03-01T00:0{n}:00Z", commits=120) for n in range(1, 4)
    ]

    def gateway(body: dict[str, Any]) -> httpx.Response | None:
        if body["operationName"] == "PullRequestsByIds" and len(body["variables"]["ids"]) > 1:
            return httpx.Response(504, text="<html>Gateway Timeout</html>")
        return None

    fake.intercept = gateway
    sleeps = Sleeps()
    pages = drain(
        pr_stream(build(fake, repositories=["acme/api"], refresh_catalog=False, sleep=sleeps))
    )
    items = [i.payload for p in pages for i in p.items]
    assert sorted(len(p["commits"]["nodes"]) for p in items) == [120, 120, 120]
    by_ids = [len(v["ids"]) for op, v in fake.operations() if op == "PullRequestsByIds"]
    assert by_ids == [3, 1, 2, 1, 1]  # halved until GitHub answers
    assert sleeps == []
