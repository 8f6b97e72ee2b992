from __future__ import annotations

import pytest

from dataflows.rules import extract_issue_keys, map_dev_status, parse_pull_url
from storage.schema import WorkItemPrLink

from .helpers import CONFIG, JIRA, meta

LINK_COLUMNS = {c.name for c in WorkItemPrLink.__table__.columns} - {
    "id",
    "created_at",
    "updated_at",
}


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("PUL-12: add export", ["PUL-12"]),
        ("feature/PUL-12-add-export", ["PUL-12"]),
        ("bugfix_PUL-12", ["PUL-12"]),
        ("[PUL-12] fix, see also AB2-7 and MY_PROJ-3", ["PUL-12", "AB2-7", "MY_PROJ-3"]),
        ("PUL-12 PUL-12 again", ["PUL-12"]),
        ("Support UTF-8, ISO-8601, SHA-256 and RFC-7231", []),
        ("Fix CVE-2024-1234 in TLS-1 handshake", []),
        ("feature/pul-12-lowercase", []),  # Jira keys are upper-case
        ("P-12 single-letter project", []),
        ("PUL-012 leading zero", []),
        ("xPUL-12 glued", []),
        ("PUL-12b glued", []),
        ("PUL-", []),
        ("", []),
        (None, []),
        ("修复 PUL-3 的问题", ["PUL-3"]),
    ],
)
def test_issue_key_extraction(text: str | None, keys: list[str]) -> None:
    assert extract_issue_keys(text) == keys


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("https://github.com/acme/api/pull/42", ("acme/api", 42)),
        ("https://github.example.com/acme/api/pull/42/", ("acme/api", 42)),
        ("https://github.com/acme/api/pull/42?w=1", ("acme/api", 42)),
        ("https://gitlab.com/acme/api/-/merge_requests/4", None),
        ("https://github.com/acme/api/tree/main", None),
        (None, None),
    ],
)
def test_parse_pull_url(url: str | None, parsed: tuple[str, int] | None) -> None:
    assert parse_pull_url(url) == parsed


def _dev_pr(number: int, status: str, repo: str = "acme/api") -> dict:
    return {
        "id": f"#{number}",
        "name": "Add export",
        "url": f"https://github.com/{repo}/pull/{number}",
        "status": status,
        "source": {"branch": "PUL-1-export"},
        "repositoryId": f"github-{repo}",
        "repositoryName": repo,
    }


def test_dev_status_links() -> None:
    payload = {
        "issueId": "10001",
        "errors": [],
        "detail": [
            {
                "pullRequests": [
                    _dev_pr(42, "MERGED"),
                    _dev_pr(7, "DECLINED", "acme/web"),
                    {"id": "!3", "url": "https://gitlab.com/acme/x/-/merge_requests/3"},
                ],
                "branches": [],
            }
        ],
    }
    rows = map_dev_status(payload, CONFIG, meta("jira.dev_status", "10001", version=9001))
    assert [(r["repository_full_name"], r["pr_number"], r["pr_status"]) for r in rows] == [
        ("acme/api", 42, "merged"),
        ("acme/web", 7, "declined"),
    ]
    row = rows[0]
    assert set(row) == LINK_COLUMNS | {"work_item_external_id"}
    assert (row["link_source"], row["integration_id"], row["version"]) == ("jira_dev", JIRA, 9001)
    assert (row["work_item_external_id"], row["work_item_key"]) == ("10001", None)
    assert row["url"] == "https://github.com/acme/api/pull/42"


def test_dev_status_uses_the_issue_key_when_the_payload_has_it() -> None:
    payload = {
        "issueId": "10001",
        "issueKey": "PUL-1",
        "detail": [{"pullRequests": [_dev_pr(1, "OPEN")]}],
    }
    (row,) = map_dev_status(payload, CONFIG, meta("jira.dev_status", "10001"))
    assert (row["work_item_key"], row["pr_status"]) == ("PUL-1", "open")


def test_dev_status_without_pull_requests() -> None:
    assert map_dev_status({"errors": [], "detail": []}, CONFIG, meta("jira.dev_status")) == []
    repos_only = {"detail": [{"repositories": [], "_instance": {"type": "GitLab"}}]}
    assert map_dev_status(repos_only, CONFIG, meta("jira.dev_status")) == []
