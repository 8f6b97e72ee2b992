from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import ExtractWindow, RawItem
from connectors.reconcile import (
    deleted_ids,
    github_deleted_pull_request_ids,
    jira_deleted_issue_ids,
)
from connectors.records import content_hash, parse_timestamp, utc_version
from connectors.windows import SINCE_BY_SCOPE, effective_since, window_since


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T10:15:30.123+0800", "2024-03-01T02:15:30.123+00:00"),
        ("2021-10-07T13:01:30.363-0700", "2021-10-07T20:01:30.363+00:00"),
        ("2021-02-16T17:15:29Z", "2021-02-16T17:15:29.000+00:00"),
        ("2020-06-26T00:38:00.000Z", "2020-06-26T00:38:00.000+00:00"),
        ("2024-03-01T10:15:30", "2024-03-01T10:15:30.000+00:00"),
    ],
)
def test_versions_are_utc_iso(text: str, expected: str) -> None:
    assert utc_version(text) == expected
    assert parse_timestamp(text).tzinfo is UTC


def test_content_hash_ignores_key_order() -> None:
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})


def _ids(entity: str, *ids: str) -> list[RawItem]:
    return [RawItem(entity, i, "v", {}) for i in ids]


def test_deleted_ids() -> None:
    assert deleted_ids(["1", "2"], ["1", "2", "3"]) == {"3"}
    assert deleted_ids([], []) == set()


def test_jira_deleted_issue_ids() -> None:
    sweep = _ids("jira.issue_id", "10", "11")
    assert jira_deleted_issue_ids(sweep, ["10", "11", "12"]) == {"12"}
    with pytest.raises(ValueError, match=r"jira\.issue_id"):
        jira_deleted_issue_ids(_ids("jira.issue", "10"), ["10"])


def test_github_deleted_pull_request_ids() -> None:
    sweep = _ids("github.pull_request_id", "PR_a")
    assert github_deleted_pull_request_ids(sweep, ["PR_a", "PR_b"]) == {"PR_b"}


def test_effective_since_takes_the_larger_overlap() -> None:
    since = datetime(2024, 3, 1, tzinfo=UTC)
    early = since - timedelta(seconds=300)
    assert effective_since(ExtractWindow(since, overlap_seconds=60), "x", 300) == early
    later = since - timedelta(seconds=600)
    assert effective_since(ExtractWindow(since, overlap_seconds=600), "x", 300) == later
    assert effective_since(ExtractWindow(None), "x", 300) is None


def test_per_scope_watermarks_backfill_new_scopes() -> None:
    # With per-scope watermarks, `since` is the backfill floor (the job's chosen start date).
    since = datetime(2023, 6, 1, tzinfo=UTC)
    scopes = {
        "repo:acme/api": datetime(2024, 2, 1, tzinfo=UTC),
        "repo:acme/unfinished": None,
        "repo:acme/text": "2024-01-01T00:00:00Z",
    }
    window = ExtractWindow(since, overlap_seconds=0, options={SINCE_BY_SCOPE: scopes})
    assert window_since(window, "repo:acme/api") == datetime(2024, 2, 1, tzinfo=UTC)
    assert window_since(window, "repo:acme/text") == datetime(2024, 1, 1, tzinfo=UTC)
    assert window_since(window, "repo:acme/unfinished") == since  # backfilled from the floor
    assert window_since(window, "repo:acme/new") == since  # never checkpointed: backfill
    no_floor = ExtractWindow(None, options={SINCE_BY_SCOPE: scopes})
    assert window_since(no_floor, "repo:acme/new") is None  # everything
    assert window_since(ExtractWindow(since), "repo:acme/new") == since


def test_naive_since_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        window_since(ExtractWindow(datetime(2024, 3, 1)), "x")
