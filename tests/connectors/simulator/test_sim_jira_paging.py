"""Every paged Jira endpoint ends and yields each item exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest
from starlette.testclient import TestClient

from connectors.simulator import Simulator, SimulatorConfig, SimulatorServer, build_app

from .helpers import EMAIL, TOKEN, jira, offset_pages, search_all

ALL = "project in (ACME1, ACME2, ACME3)"


def _time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


@pytest.mark.parametrize("site", ["acme", "globex"])
def test_search_by_updated_covers_every_issue_once_in_order(
    server: SimulatorServer, site: str
) -> None:
    prefix = site.upper()
    jql = f"project in ({prefix}1, {prefix}2, {prefix}3) ORDER BY updated ASC"
    with jira(server, site) as client:
        issues = search_all(client, jql, maxResults=37, fields=["updated"])
    truth = server.truth("jira", site)
    ids = [i["id"] for i in issues]
    assert Counter(ids).most_common(1)[0][1] == 1
    assert set(ids) == {t["id"] for t in truth["issues"]}
    updated = [_time(i["fields"]["updated"]) for i in issues]
    assert updated == sorted(updated)


def test_search_by_key_orders_by_project_then_number(server: SimulatorServer) -> None:
    with jira(server, "acme") as client:
        issues = search_all(client, "project in (ACME3, ACME1) ORDER BY key ASC", maxResults=50)
    keys = [i["key"] for i in issues]
    parsed = [(k.split("-")[0], int(k.split("-")[1])) for k in keys]
    assert parsed == sorted(parsed)
    expected = {
        t["key"]
        for t in server.truth("jira", "acme")["issues"]
        if t["key"].split("-")[0] in ("ACME1", "ACME3")
    }
    assert set(keys) == expected
    assert len(keys) == len(expected)
    assert "fields" not in issues[0]  # search/jql returns ids only unless fields are asked for


def test_search_caps_page_sizes() -> None:
    sim = Simulator(
        SimulatorConfig(seed=2, sites=("acme",), issues_per_site=12_000, max_histories=5)
    )
    with TestClient(build_app(sim)) as client:
        client.auth = (EMAIL, TOKEN)
        full = client.post(
            "/jira/acme/rest/api/3/search/jql",
            json={"jql": ALL, "maxResults": 1000, "fields": ["summary"]},
        ).json()
        ids = client.post(
            "/jira/acme/rest/api/3/search/jql",
            json={"jql": ALL, "maxResults": 9000, "fields": ["id"]},
        ).json()
    assert len(full["issues"]) == 100
    assert len(ids["issues"]) == 5000
    assert set(ids["issues"][0]) <= {"id", "key", "self", "expand"}
    assert ids["isLast"] is False
    assert ids["nextPageToken"]


def test_embedded_changelog_is_capped_with_the_true_total(server: SimulatorServer) -> None:
    with jira(server, "acme") as client:
        issues = search_all(client, ALL, maxResults=100, fields=["updated"], expand="changelog")
    big = [i for i in issues if i["changelog"]["total"] > 100]
    assert big, "the simulator must produce changelogs longer than one embedded page"
    for issue in big:
        log = issue["changelog"]
        assert len(log["histories"]) == log["maxResults"] == 100
        created = [_time(h["created"]) for h in log["histories"]]
        assert created == sorted(created, reverse=True)  # newest first, like Jira
    small = [i for i in issues if i["changelog"]["total"] <= 100]
    assert all(len(i["changelog"]["histories"]) == i["changelog"]["total"] for i in small)
    assert any(i["changelog"]["total"] == 0 for i in small)


def test_changelog_overflow_per_issue_and_bulk_agree(server: SimulatorServer) -> None:
    with jira(server, "acme") as client:
        issues = search_all(client, ALL, maxResults=100, fields=["updated"], expand="changelog")
        big = [i for i in issues if i["changelog"]["total"] > 100][:3]
        per_issue: dict[str, list[str]] = {}
        for issue in big:
            ids: list[str] = []
            for page in offset_pages(client, f"/rest/api/3/issue/{issue['key']}/changelog", 40):
                assert page["total"] == issue["changelog"]["total"]
                ids.extend(h["id"] for h in page["values"])
            assert len(ids) == len(set(ids)) == issue["changelog"]["total"]
            embedded = [h["id"] for h in issue["changelog"]["histories"]]
            assert list(reversed(embedded)) == ids[-100:]
            per_issue[issue["id"]] = ids
        refs = [big[0]["key"], big[1]["id"], big[2]["id"], "ACME9-1"]  # unknown keys are skipped
        bulk: dict[str, list[str]] = {}
        token, pages = None, 0
        while True:
            body = {
                "issueIdsOrKeys": refs,
                "maxResults": 150,
                **({"nextPageToken": token} if token else {}),
            }
            page = client.post("/rest/api/3/changelog/bulkfetch", json=body).json()
            pages += 1
            assert sum(len(log["changeHistories"]) for log in page["issueChangeLogs"]) <= 150
            for log in page["issueChangeLogs"]:
                bulk.setdefault(log["issueId"], []).extend(h["id"] for h in log["changeHistories"])
            token = page.get("nextPageToken")
            if token is None:
                break
    assert bulk == per_issue
    assert pages == -(-sum(len(v) for v in per_issue.values()) // 150)


def test_projects_boards_and_sprints_page_to_the_end(server: SimulatorServer) -> None:
    with jira(server, "globex") as client:
        projects = [
            v
            for page in offset_pages(client, "/rest/api/3/project/search", 2, expand="issueTypes")
            for v in page["values"]
        ]
        boards = [
            v for page in offset_pages(client, "/rest/agile/1.0/board", 2) for v in page["values"]
        ]
        sprints = {}
        for board in boards:
            if board["type"] != "scrum":
                response = client.get(f"/rest/agile/1.0/board/{board['id']}/sprint")
                assert response.status_code == 400  # kanban boards have no sprints, as in Jira
                continue
            for page in offset_pages(client, f"/rest/agile/1.0/board/{board['id']}/sprint", 7):
                for sprint in page["values"]:
                    assert sprint["id"] not in sprints
                    sprints[sprint["id"]] = sprint
        capped = client.get("/rest/agile/1.0/board/1/sprint", params={"maxResults": 500}).json()
    assert [p["key"] for p in projects] == ["GLOBEX1", "GLOBEX2", "GLOBEX3"]
    assert all(p["issueTypes"] for p in projects)
    assert len(boards) == 4
    counts = server.truth("jira", "globex")["counts"]
    assert len(sprints) == counts["sprints"]
    assert Counter(s["state"] for s in sprints.values())["active"] == 3
    assert len(capped["values"]) == 50


def test_server_search_pages_by_offset_with_total(server: SimulatorServer) -> None:
    truth = server.truth("jira", "acme")
    seen: list[str] = []
    with jira(server, "acme") as client:
        start = 0
        while True:
            page = client.post(
                "/rest/api/2/search",
                json={
                    "jql": f"{ALL} ORDER BY key ASC",
                    "startAt": start,
                    "maxResults": 45,
                    "fields": ["summary", "description"],
                    "expand": ["changelog"],
                },
            ).json()
            assert page["total"] == truth["counts"]["issues"]
            seen.extend(i["id"] for i in page["issues"])
            if start + len(page["issues"]) >= page["total"]:
                break
            start += len(page["issues"])
        skipped = client.post(
            "/rest/api/2/search", json={"jql": ALL, "startAt": 200, "maxResults": 5}
        ).json()
    assert sorted(seen) == sorted(t["id"] for t in truth["issues"])
    assert len(seen) == len(set(seen))
    assert len(skipped["issues"]) == 5
    assert "changelog" not in skipped["issues"][0]
    description = page["issues"][0]["fields"]["description"]
    assert description is None or isinstance(description, str)  # v2 answers text, not ADF


def test_approximate_count_matches_the_search(server: SimulatorServer) -> None:
    jql = 'project in (ACME1, ACME2) AND updated >= "2025-01-01 00:00"'
    with jira(server, "acme") as client:
        count = client.post("/rest/api/3/search/approximate-count", json={"jql": jql}).json()
        issues = search_all(client, jql, maxResults=100)
    assert count["count"] == len(issues) > 0


def test_server_project_list_and_single_issue(server: SimulatorServer) -> None:
    with jira(server, "acme") as client:
        projects = client.get("/rest/api/2/project", params={"expand": "issueTypes"}).json()
        issue = client.get("/rest/api/3/issue/ACME2-4", params={"expand": "changelog"}).json()
        missing = client.get("/rest/api/3/issue/ACME2-99999")
        wrong_method = client.delete("/rest/api/3/issue/ACME2-4")
    assert [p["key"] for p in projects] == ["ACME1", "ACME2", "ACME3"]
    assert issue["key"] == "ACME2-4"
    assert issue["fields"]["project"]["key"] == "ACME2"
    assert issue["changelog"]["total"] >= len(issue["changelog"]["histories"])
    assert missing.status_code == 404
    assert wrong_method.status_code == 405
