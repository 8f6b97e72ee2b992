from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.base import ExtractWindow
from connectors.jira import FieldRoles, JiraSite, test_connection
from connectors.records import parse_timestamp
from pulse.errors import FatalError
from tests.connectors.fakes import body_of
from tests.connectors.jira.conftest import CREDENTIALS, BuildFn, drain, settings, stream_of
from tests.connectors.jira.fake_jira import FakeJira

BASE = datetime(2024, 3, 1, tzinfo=UTC)
SITE = JiraSite("Asia/Shanghai", FieldRoles(development=("customfield_10000",)))


def history(n: int, when: datetime) -> dict[str, Any]:
    return {
        "id": str(n),
        "created": when.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "author": None,
        "items": [{"field": "status", "fromString": "a", "toString": "b"}],
    }


def make_issue(
    n: int,
    updated: datetime,
    *,
    project: str = "EE",
    histories: int = 1,
    embedded: int | None = None,
    development: str = "{}",
) -> dict[str, Any]:
    all_histories = [history(n * 1000 + h, updated - timedelta(hours=h)) for h in range(histories)]
    shown = all_histories[: embedded if embedded is not None else histories]
    return {
        "id": str(10000 + n),
        "key": f"{project}-{n}",
        "fields": {
            "summary": f"issue {n}",
            "project": {"id": "1", "key": project},
            "status": {
                "id": "3",
                "name": "In Progress",
                "statusCategory": {"key": "indeterminate"},
            },
            "assignee": None,
            "updated": updated.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "customfield_10000": development,
        },
        "changelog": {
            "startAt": 0,
            "maxResults": len(shown),
            "total": histories,
            "histories": shown,
        },
        "_all_histories": all_histories,
    }


def fake_with(issues: list[dict[str, Any]], **kw: Any) -> FakeJira:
    fake = FakeJira(issues, **kw)
    for issue in issues:
        fake.full_changelogs[issue["id"]] = issue["_all_histories"]
    return fake


def searches(fake: FakeJira) -> list[dict[str, Any]]:
    return [
        body_of(r)
        for r in fake.requests
        if "/search" in r.url.path and not r.url.path.endswith("approximate-count")
    ]


def test_incremental_jql_uses_user_time_zone_and_overlap(build: BuildFn) -> None:
    fake = fake_with([make_issue(1, BASE + timedelta(hours=2))])
    window = ExtractWindow(since=BASE + timedelta(hours=1), overlap_seconds=300)
    stream = stream_of(build(fake, window, site=SITE, refresh_catalog=False), "jira.issue")
    pages = drain(stream)
    # 01:00 UTC is 09:00 in Shanghai; minus the 5-minute overlap.
    assert (
        searches(fake)[0]["jql"] == 'project = EE AND updated >= "2024-03-01 08:55" '
        "ORDER BY updated ASC"
    )
    assert searches(fake)[0]["expand"] == "changelog"
    assert [i.external_id for p in pages for i in p.items] == ["10001"]
    assert not any(r.url.path.endswith("approximate-count") for r in fake.requests)


def test_items_older_than_since_minus_overlap_are_not_returned(build: BuildFn) -> None:
    issues = [make_issue(n, BASE + timedelta(minutes=10 * n)) for n in range(1, 13)]
    fake = fake_with(issues)
    window = ExtractWindow(since=BASE + timedelta(minutes=65), overlap_seconds=300)
    items = [
        i for p in drain(stream_of(build(fake, window, site=SITE), "jira.issue")) for i in p.items
    ]
    cutoff = BASE + timedelta(minutes=60)
    assert items
    assert all(parse_timestamp(i.version) >= cutoff for i in items)
    assert len(items) == 7  # minutes 60..120


def test_no_change_incremental_run_costs_one_request(build: BuildFn) -> None:
    fake = fake_with([make_issue(1, BASE)])
    window = ExtractWindow(since=BASE + timedelta(days=1))
    pages = drain(stream_of(build(fake, window, site=SITE, refresh_catalog=False), "jira.issue"))
    assert [len(p.items) for p in pages] == [0]
    assert sum(p.requests for p in pages) == 1
    assert len(fake.requests) == 1


def test_extra_jql_and_project_list(build: BuildFn) -> None:
    fake = fake_with([make_issue(1, BASE), make_issue(2, BASE, project="OPS")])
    cfg = settings(projects=["EE", "OPS"], extra_jql="labels = backend")
    stream = stream_of(build(fake, settings=cfg, site=SITE), "jira.issue")
    stream.fetch_page(None)
    assert (
        searches(fake)[0]["jql"] == "project in (EE, OPS) AND (labels = backend) "
        "ORDER BY updated ASC"
    )
    assert stream.key.scope.startswith("projects:EE,OPS;jql:")


def test_start_date_bounds_the_backfill(build: BuildFn) -> None:
    fake = fake_with([make_issue(1, BASE)])
    cfg = settings(start_date="2024-02-01")
    stream_of(build(fake, settings=cfg, site=SITE), "jira.issue").fetch_page(None)
    assert 'updated >= "2024-02-01 08:00"' in searches(fake)[0]["jql"]


def test_resume_from_stored_cursor_continues_at_next_page(build: BuildFn) -> None:
    issues = [make_issue(n, BASE + timedelta(minutes=n)) for n in range(1, 26)]
    fake = fake_with(issues)
    first = stream_of(build(fake, site=SITE, settings=settings(page_size=10)), "jira.issue")
    page1 = first.fetch_page(None)
    stored = json.loads(json.dumps(page1.next_cursor))
    # A new process: fresh streams, only the stored cursor survives.
    fake.recorder.requests.clear()
    again = stream_of(build(fake, site=SITE, settings=settings(page_size=99)), "jira.issue")
    rest = drain(again, stored)
    seen = [i.external_id for i in page1.items] + [i.external_id for p in rest for i in p.items]
    assert seen == [str(10000 + n) for n in range(1, 26)]  # nothing skipped, nothing twice
    assert searches(fake)[0]["nextPageToken"] == "o:10"
    assert searches(fake)[0]["maxResults"] == 10  # the run's query is kept in the cursor
    assert len(fake.requests) == 2


def test_truncated_changelogs_fetched_with_one_bulk_request_per_page(build: BuildFn) -> None:
    issues = [
        make_issue(1, BASE, histories=150, embedded=100),
        make_issue(2, BASE + timedelta(minutes=1), histories=3),
        make_issue(3, BASE + timedelta(minutes=2), histories=1200, embedded=100),
        make_issue(4, BASE + timedelta(minutes=3), histories=101, embedded=100),
    ]
    fake = fake_with(issues)
    pages = drain(stream_of(build(fake, site=SITE), "jira.issue"))
    items = {i.external_id: i for p in pages for i in p.items}
    for issue in issues:
        changelog = items[issue["id"]].payload["changelog"]
        assert len(changelog["histories"]) == issue["changelog"]["total"]
        assert changelog["total"] == len(changelog["histories"])
        if issue["changelog"]["total"] > len(issue["changelog"]["histories"]):
            created = [parse_timestamp(h["created"]) for h in changelog["histories"]]
            assert created == sorted(created, reverse=True)  # newest first, as Jira embeds
    bulk = [body_of(r) for r in fake.requests if r.url.path.endswith("/changelog/bulkfetch")]
    # 1451 histories of the 3 truncated issues: 2 pages of 1000, one call chain.
    assert len(bulk) == 2
    assert sorted(bulk[0]["issueIdsOrKeys"]) == ["10001", "10003", "10004"]
    assert "nextPageToken" in bulk[1]
    assert pages[0].requests == 1 + 1 + 2  # count, search, bulk x2


def test_server_deployment_pages_by_offset_and_per_issue_changelog(build: BuildFn) -> None:
    issues = [make_issue(n, BASE + timedelta(minutes=n)) for n in range(1, 8)]
    issues.append(make_issue(8, BASE + timedelta(minutes=8), histories=120, embedded=100))
    fake = fake_with(issues)
    cfg = settings(deployment="server", url="https://jira.acme.test", page_size=3)
    pages = drain(stream_of(build(fake, settings=cfg, site=SITE), "jira.issue"))
    ids = [i.external_id for p in pages for i in p.items]
    assert ids == [str(10000 + n) for n in range(1, 9)]
    assert pages[0].total == 8
    paths = {r.url.path for r in fake.requests}
    assert "/rest/api/2/search" in paths
    assert "/rest/api/2/issue/10008/changelog" in paths
    last = next(i for p in pages for i in p.items if i.external_id == "10008")
    assert len(last.payload["changelog"]["histories"]) == 120


def test_server_offset_shift_does_not_skip(build: BuildFn) -> None:
    issues = [make_issue(n, BASE + timedelta(minutes=n)) for n in range(1, 11)]
    fake = fake_with(issues)
    cfg = settings(deployment="server", url="https://jira.acme.test", page_size=4)
    stream = stream_of(build(fake, settings=cfg, site=SITE), "jira.issue")
    page1 = stream.fetch_page(None)
    # Issue 2 (already read) is updated: it moves to the end, issues 3.. move one place back.
    fake.issues[1]["fields"]["updated"] = "2024-03-01T05:00:00.000+0000"
    rest = drain(stream, page1.next_cursor)
    seen = {i.external_id for i in page1.items} | {i.external_id for p in rest for i in p.items}
    assert seen == {str(10000 + n) for n in range(1, 11)}


def test_development_links_only_for_issues_with_pull_requests(build: BuildFn) -> None:
    linked = "{pullrequest={dataType=pullrequest, state=MERGED, stateCount=1}, json={}}"
    issues = [
        make_issue(1, BASE, development=linked),
        make_issue(2, BASE),
        make_issue(3, BASE, development=linked),
    ]
    fake = fake_with(issues)
    fake.dev_status = {"10001": {"errors": [], "detail": [{"pullRequests": [{"id": "#1"}]}]}}
    streams = build(fake, site=SITE, settings=settings(development_links=True))
    drain(stream_of(streams, "jira.issue"))
    pages = drain(stream_of(streams, "jira.dev_status"))
    asked = [r.url.params["issueId"] for r in fake.requests if "dev-status" in r.url.path]
    assert asked == ["10001", "10003"]  # 10003 answers 404: skipped, not fatal
    items = [i for p in pages for i in p.items]
    assert [(i.entity, i.external_id) for i in items] == [("jira.dev_status", "10001")]
    assert sum(p.requests for p in pages) == 2


def test_dev_status_stream_is_off_by_default(build: BuildFn) -> None:
    entities = [s.key.entity for s in build(fake_with([]))]
    assert entities == [
        "jira.field",
        "jira.project",
        "jira.issue_type",
        "jira.status",
        "jira.board",
        "jira.sprint",
        "jira.issue",
    ]


def test_issue_id_sweep_uses_id_only_large_pages(build: BuildFn) -> None:
    issues = [make_issue(n, BASE) for n in range(1, 6)]
    fake = fake_with(issues)
    streams = build(fake, deletion_sweep=True, refresh_catalog=False, site=SITE)
    assert [s.key.entity for s in streams] == ["jira.issue", "jira.issue_id"]
    pages = drain(streams[-1])
    body = searches(fake)[0]
    assert body["fields"] == ["id"]
    assert body["maxResults"] == 5000
    assert body["jql"].endswith("ORDER BY key ASC")
    assert "expand" not in body
    assert [i.external_id for i in pages[0].items] == [str(10000 + n) for n in range(1, 6)]


def test_retries_are_counted_in_page_requests(build: BuildFn) -> None:
    fake = fake_with([make_issue(1, BASE)])
    calls = {"n": 0}
    inner = fake.recorder.handler

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(429, headers={"Retry-After": "1"})
        return inner(request)

    fake.recorder.handler = flaky
    window = ExtractWindow(since=BASE - timedelta(days=1))
    page = stream_of(build(fake, window, site=SITE), "jira.issue").fetch_page(None)
    assert page.requests == 2
    assert len(page.items) == 1


def test_bad_credentials_are_fatal_and_name_the_integration(build: BuildFn) -> None:
    fake = fake_with([])
    fake.recorder.handler = lambda request: httpx.Response(401, json={})
    with pytest.raises(FatalError) as caught:
        stream_of(build(fake), "jira.field").fetch_page(None)
    assert "Jira (acme.atlassian.net)" in str(caught.value)
    assert "API token" in str(caught.value)
    assert "jira-secret-token" not in str(caught.value)


def test_connection_check() -> None:
    fake = fake_with([])
    check = test_connection(settings(), CREDENTIALS, transport=fake.transport)
    assert check.ok
    assert (
        check.message == "Connected to Jira (acme.atlassian.net) as Ann (time zone Asia/Shanghai)"
    )
    assert check.details["time_zone"] == "Asia/Shanghai"
    fake.recorder.handler = lambda request: httpx.Response(401, json={})
    failed = test_connection(settings(), CREDENTIALS, transport=fake.transport)
    assert not failed.ok
    assert "rejected the Jira API token" in failed.message
