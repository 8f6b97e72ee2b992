"""The generated Jira data is internally consistent and has the shapes real sites have."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from typing import Any

import pytest

from connectors.simulator import SimulatorServer

from .helpers import jira, offset_pages, search_all

_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$")
_FIELDS = ["*all"]


@pytest.fixture(scope="module")
def acme(server: SimulatorServer) -> dict[str, Any]:
    """Every acme issue with its complete changelog (oldest first), plus the catalog."""
    with jira(server, "acme") as client:
        issues = search_all(
            client,
            "project in (ACME1, ACME2, ACME3)",
            maxResults=100,
            fields=_FIELDS,
            expand="changelog",
        )
        for issue in issues:
            log = issue["changelog"]
            if log["total"] > len(log["histories"]):
                pages = offset_pages(client, f"/rest/api/3/issue/{issue['id']}/changelog", 100)
                issue["full"] = [h for page in pages for h in page["values"]]
            else:
                issue["full"] = list(reversed(log["histories"]))
        statuses = {
            p: client.get(f"/rest/api/3/project/{p}/statuses").json()
            for p in ("ACME1", "ACME2", "ACME3")
        }
        sprints = {
            s["id"]: s
            for board in (1, 2, 3)
            for page in offset_pages(client, f"/rest/agile/1.0/board/{board}/sprint", 50)
            for s in page["values"]
        }
    return {"issues": issues, "statuses": statuses, "sprints": sprints}


def _chain(issue: dict[str, Any], field: str) -> list[dict[str, Any]]:
    return [item for h in issue["full"] for item in h["items"] if item["field"] == field]


def test_status_transitions_chain_from_the_initial_to_the_current_status(
    acme: dict[str, Any],
) -> None:
    moved = 0
    for issue in acme["issues"]:
        project = issue["fields"]["project"]["key"]
        workflow = acme["statuses"][project][0]["statuses"]
        current = workflow[0]["id"]  # the first listed status is where every issue starts
        for item in _chain(issue, "status"):
            assert item["from"] == current, issue["key"]
            current = item["to"]
            moved += 1
        assert issue["fields"]["status"]["id"] == current
    assert moved > 100


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("assignee", lambda f: (f["assignee"] or {}).get("accountId")),
        ("priority", lambda f: (f["priority"] or {}).get("id")),
        ("Sprint", lambda f: ", ".join(str(s["id"]) for s in f["customfield_10020"] or [])),
    ],
)
def test_other_fields_change_consistently(acme: dict[str, Any], field: str, value: Any) -> None:
    changed = 0
    for issue in acme["issues"]:
        chain = _chain(issue, field)
        for before, after in itertools.pairwise(chain):
            assert after["from"] == before["to"], issue["key"]
        if chain:
            changed += 1
            assert (chain[-1]["to"] or None) == (value(issue["fields"]) or None), issue["key"]
    assert changed > 10


def test_story_points_change_through_their_display_strings(acme: dict[str, Any]) -> None:
    changed = 0
    for issue in acme["issues"]:
        chain = _chain(issue, "Story point estimate")
        for item in chain:
            assert item["fieldId"] == "customfield_10016"
            assert item["to"] is None
        for before, after in itertools.pairwise(chain):
            assert after["fromString"] == before["toString"]
        if chain:
            changed += 1
            assert float(chain[-1]["toString"]) == issue["fields"]["customfield_10016"]
    assert changed > 5


def test_resolution_follows_the_done_category(acme: dict[str, Any]) -> None:
    categories = Counter()
    for issue in acme["issues"]:
        fields = issue["fields"]
        done = fields["status"]["statusCategory"]["key"] == "done"
        categories[fields["status"]["statusCategory"]["key"]] += 1
        assert (fields["resolutiondate"] is not None) is done, issue["key"]
        assert (fields["resolution"] is not None) is done, issue["key"]
    assert set(categories) == {"new", "indeterminate", "done"}


def test_shapes_real_sites_have(acme: dict[str, Any]) -> None:
    issues = acme["issues"]
    fields = [i["fields"] for i in issues]
    names = {s["name"] for lists in acme["statuses"].values() for s in lists[0]["statuses"]}
    assert {"已完成", "处理中", "Revisión"} <= names
    types = Counter(f["issuetype"]["name"] for f in fields)
    assert {"Epic", "Story", "Task", "Bug", "Sub-task", "Tech-Debt / 技术债"} <= set(types)
    assert any(f["assignee"] is None for f in fields)
    assert any(f["priority"] is None for f in fields)
    assert any(f["customfield_10020"] for f in fields)
    assert any(h.get("author") is None for i in issues for h in i["full"])
    by_id = {i["id"]: i for i in issues}
    for f in fields:
        assert _STAMP.match(f["created"])
        assert f["created"] <= f["updated"]
        assert f["updated"].endswith("+0800")  # acme's users live in Asia/Shanghai
        level = f["issuetype"]["hierarchyLevel"]
        parent = f.get("parent")
        if f["issuetype"]["subtask"]:
            assert level == -1
            assert parent is not None
            assert not by_id[parent["id"]]["fields"]["issuetype"]["subtask"]
        elif parent is not None:
            assert by_id[parent["id"]]["fields"]["issuetype"]["name"] == "Epic"
        if level == 1:
            assert parent is None
    for sprint in (s for f in fields for s in f["customfield_10020"] or []):
        listed = acme["sprints"][sprint["id"]]
        assert (listed["name"], listed["state"]) == (sprint["name"], sprint["state"])


def test_development_links_match_pull_requests_that_name_the_issue(
    server: SimulatorServer, acme: dict[str, Any]
) -> None:
    linked = [i for i in acme["issues"] if "pullrequest" in i["fields"]["customfield_10000"]]
    assert linked
    assert any(i["fields"]["customfield_10000"] == "{}" for i in acme["issues"])
    truth_urls = {
        f"https://github.com/{p['repository']}/pull/{p['number']}"
        for p in server.truth("github", "acme")["pull_requests"]
    }
    with jira(server, "acme") as client:
        for issue in linked[:10]:
            detail = client.get(
                "/rest/dev-status/latest/issue/detail",
                params={
                    "issueId": issue["id"],
                    "applicationType": "GitHub",
                    "dataType": "pullrequest",
                },
            ).json()["detail"][0]
            assert detail["pullRequests"]
            for pr in detail["pullRequests"]:
                assert pr["url"] in truth_urls
                assert issue["key"] in pr["source"]["branch"]
                assert pr["status"] in ("OPEN", "MERGED", "DECLINED")
