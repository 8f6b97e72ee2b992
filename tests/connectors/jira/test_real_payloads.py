"""The recorded real payloads (../shared/fixtures/real) parse into complete RawItems."""

from __future__ import annotations

from collections import Counter

from connectors.base import ExtractWindow
from connectors.jira import issue_item, resolve_field_roles
from connectors.records import parse_timestamp
from tests.connectors.jira.conftest import BuildFn, drain, settings, stream_of
from tests.connectors.jira.fake_jira import FakeJira
from tests.connectors.jira.real_data import devlake_rows, faros_records


def test_every_recorded_issue_becomes_a_raw_item() -> None:
    issues = devlake_rows("issues")
    assert len(issues) == 33
    for issue in issues:
        item = issue_item(issue)
        assert item.entity == "jira.issue"
        assert item.external_id == issue["id"]
        assert item.version.endswith("+00:00")
        assert parse_timestamp(item.version) == parse_timestamp(issue["fields"]["updated"])
    first = issue_item(issues[0])
    assert (first.external_id, first.version) == ("10063", "2021-03-28T08:06:08.713+00:00")


def test_recorded_issues_served_through_the_issue_stream(build: BuildFn) -> None:
    issues = devlake_rows("issues")
    fake = FakeJira(issues, time_zone="Asia/Shanghai")
    streams = build(fake, settings=settings(projects=["EE", "K5"], page_size=10))
    pages = drain(stream_of(streams, "jira.issue"))
    items = [item for page in pages for item in page.items]
    assert sorted(i.external_id for i in items) == sorted(i["id"] for i in issues)
    assert len(pages) == 4
    statuses = Counter(i.payload["fields"]["status"]["name"] for i in items)
    assert statuses["已完成"] > 0  # Chinese status names survive the round trip
    assert sum(i.payload["fields"]["assignee"] is None for i in items) == 3
    assert pages[0].total == 33  # full backfill: approximate count
    newest = max(parse_timestamp(i["fields"]["updated"]) for i in issues)
    assert max(p.high_watermark for p in pages if p.high_watermark) == newest


def test_faros_issues_parse() -> None:
    issues = faros_records("issues")
    assert len(issues) == 5
    for issue in issues:
        item = issue_item(issue)
        assert item.external_id == issue["id"]
        assert parse_timestamp(item.version) == parse_timestamp(issue["fields"]["updated"])
    assert issue_item(issues[0]).version == "2021-10-07T20:01:30.363+00:00"  # from -0700


def test_faros_issues_served_through_the_issue_stream(build: BuildFn) -> None:
    fake = FakeJira(
        faros_records("issues"),
        time_zone="America/Los_Angeles",
        fields=faros_records("issue_fields"),
    )
    streams = build(fake, settings=settings(projects=["PLAYG"]), refresh_catalog=False)
    items = [i for p in drain(stream_of(streams, "jira.issue")) for i in p.items]
    assert {i.payload["key"] for i in items} == {f["key"] for f in faros_records("issues")}
    search = next(r for r in fake.requests if r.url.path.endswith("/search/jql"))
    import json

    asked = json.loads(search.content)["fields"]
    # Found by name in the site's catalog: story points (both kinds), sprint, team, development.
    for field_id in (
        "customfield_10016",
        "customfield_10028",
        "customfield_10020",
        "customfield_10001",
        "customfield_10000",
    ):
        assert field_id in asked


def test_field_roles_from_the_recorded_catalog() -> None:
    roles = resolve_field_roles(faros_records("issue_fields"), settings())
    assert set(roles.story_points) == {"customfield_10016", "customfield_10028"}
    assert roles.sprint == ("customfield_10020",)
    assert roles.team == ("customfield_10001",)
    assert roles.development == ("customfield_10000",)


def test_recorded_statuses_one_item_per_status_per_project(build: BuildFn) -> None:
    fake = FakeJira([])
    fake.statuses = {
        "EE": [
            {"id": "10001", "name": "故事", "statuses": devlake_rows("status")[:20]},
            {"id": "10002", "name": "Bug", "statuses": devlake_rows("status")[10:30]},
        ],
        "PLAYG": [{"id": "1", "name": "Task", "statuses": faros_records("workflow_statuses")}],
    }
    streams = build(fake, settings=settings(projects=["EE", "PLAYG"]))
    items = [i for p in drain(stream_of(streams, "jira.status")) for i in p.items]
    ee = [i for i in items if i.payload["projectKey"] == "EE"]
    assert len(ee) == len({s["id"] for s in devlake_rows("status")[:30]})
    assert len(items) == len(ee) + 8
    shared = next(i for i in ee if i.payload["id"] == devlake_rows("status")[15]["id"])
    assert shared.payload["issueTypeIds"] == ["10001", "10002"]
    assert shared.external_id == f"EE:{shared.payload['id']}"
    assert all(
        i.payload["statusCategory"]["key"] in {"new", "indeterminate", "done"} for i in items
    )


def test_recorded_projects_filtered_to_configured(build: BuildFn) -> None:
    fake = FakeJira([])
    fake.projects = devlake_rows("projects") + faros_records("projects")
    streams = build(fake, settings=settings(projects=["EE", "CC", "PLAYG"]))
    items = [i for p in drain(stream_of(streams, "jira.project")) for i in p.items]
    assert {i.payload["key"] for i in items} == {"EE", "CC", "PLAYG"}
    assert all(i.external_id == i.payload["id"] for i in items)


def test_recorded_sprints_through_boards(build: BuildFn) -> None:
    fake = FakeJira([])
    fake.boards = [
        *faros_records("boards"),
        {"id": 8, "name": "EE board", "type": "scrum", "location": {"projectKey": "EE"}},
        {"id": 9, "name": "EE kanban", "type": "kanban", "location": {"projectKey": "EE"}},
        {"id": 10, "name": "other", "type": "scrum", "location": {"projectKey": "ZZ"}},
    ]
    fake.sprints = {8: devlake_rows("sprints"), 21: faros_records("sprints")}
    streams = build(fake, settings=settings(projects=["EE", "PLAYG"]))
    boards = [i for p in drain(stream_of(streams, "jira.board")) for i in p.items]
    assert {b.external_id for b in boards} == {"8", "9", "21"}
    sprint_pages = drain(stream_of(streams, "jira.sprint"))
    sprints = [i for p in sprint_pages for i in p.items]
    assert len(sprints) == 30 + 10
    assert {s.external_id for s in sprints} >= {"7", "15", "27"}
    asked = {r.url.path for r in fake.requests if r.url.path.endswith("/sprint")}
    assert asked == {"/rest/agile/1.0/board/8/sprint", "/rest/agile/1.0/board/21/sprint"}
    assert sum(p.requests for p in sprint_pages) == 2  # boards reused from the board stream


def test_catalog_items_are_versioned_by_fetch_time(build: BuildFn) -> None:
    fake = FakeJira([], fields=faros_records("issue_fields"))
    streams = build(fake, window=ExtractWindow(None))
    fields = drain(stream_of(streams, "jira.field"))[0].items
    assert len(fields) == 74
    assert len({f.version for f in fields}) == 1
    assert parse_timestamp(fields[0].version).year >= 2024
