"""What the load stage reports and records besides the facts: raw records processed, the run's
loaded count from rows, the facts to re-embed, and all-or-nothing batches."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from pulse.errors import ErrorKind
from storage.loader import ChangedFact, LoadBatch, LoadError, TransientLoadError
from storage.loader_sql import database_error

from .payloads import issue, pull_request
from .world import World


def test_covered_deduped_and_dead_raw_records_are_marked_processed(world: World) -> None:
    older = world.record("jira.issue", issue(1, updated=3))
    newer = world.record("jira.issue", issue(1, updated=9))
    no_changelog = {k: v for k, v in issue(9).items() if k != "changelog"}
    broken = world.record("jira.issue", no_changelog)  # fails the transform
    elsewhere = world.record("jira.issue", issue(2))  # in another batch
    assert broken.output is None

    # The transform deduped `older` away: it is covered without rows of its own.
    world.load(world.batch(newer, broken, covered=[older.raw_id]))

    processed = world.processed([older.raw_id, newer.raw_id, broken.raw_id, elsewhere.raw_id])
    assert {raw_id for raw_id, at in processed.items() if at is not None} == {
        older.raw_id,
        newer.raw_id,
        broken.raw_id,
    }


def test_the_loaded_count_comes_from_rows_never_from_increments(world: World) -> None:
    world.set_loaded(999)  # whatever an earlier, buggy counter left
    batch = world.batch(
        world.record("jira.issue", issue(1)),
        world.record("jira.issue", issue(2)),
        world.record("github.pull_request", pull_request(5)),
    )

    assert world.load(batch).loaded == {world.run_id: 3}
    assert world.loaded() == 3
    assert world.load(batch).loaded == {world.run_id: 3}  # a replay counts nothing twice
    world.load_records(world.record("jira.issue", issue(3)))
    assert world.loaded() == 4

    # A later run that rewrites item 1 counts it; a replay of its batch still counts once.
    later = world.start_run(world.jira_id)
    rewritten = world.batch(
        world.record("jira.issue", issue(1, updated=20), run_id=later), run_id=later
    )
    assert world.load(rewritten).loaded == {later: 1}
    assert world.load(rewritten).loaded == {later: 1}
    assert world.loaded(later) == 1


def test_only_facts_whose_text_changed_are_sent_to_embedding(world: World) -> None:
    first = world.load_records(
        world.record("jira.issue", issue(1, summary="Export", updated=5)),
        world.record("github.pull_request", pull_request(5, updated=5)),
    )
    assert sorted((c.entity, c.external_id) for c in first.changed) == [
        ("pull_request", "PR_acme_api_5"),
        ("work_item", "10001"),
    ]
    (item,) = world.rows("work_items")
    assert ChangedFact("work_item", world.jira_id, "10001", item["content_hash"]) in first.changed

    # Newer versions whose embedded text is the same: rewritten, not re-embedded.
    same_text = world.load_records(
        world.record("jira.issue", issue(1, summary="Export", priority="Low", updated=6)),
        world.record("github.pull_request", pull_request(5, updated=6, additions=999)),
    )
    assert (same_text.written["work_items"], same_text.written["pull_requests"]) == (1, 1)
    assert same_text.changed == []
    assert world.rows("work_items")[0]["priority"] == "Low"

    new_text = world.load_records(
        world.record("jira.issue", issue(1, summary="Export to CSV", updated=7)),
        world.record("github.pull_request", pull_request(5, updated=6.5, body="Now with CSV.")),
    )
    (item,) = world.rows("work_items")
    (pr,) = world.rows("pull_requests")
    assert sorted(new_text.changed, key=lambda c: c.entity) == [
        ChangedFact("pull_request", world.github_id, "PR_acme_api_5", pr["content_hash"]),
        ChangedFact("work_item", world.jira_id, "10001", item["content_hash"]),
    ]


def test_a_failing_batch_leaves_nothing_behind(world: World) -> None:
    world.set_loaded(7)
    item = world.record("jira.issue", issue(1, sprints=[7]))
    pr = world.record("github.pull_request", pull_request(5))
    batch = world.batch(item, pr)
    bad_link = {
        **batch.rows["work_item_pr_links"][0],
        "link_source": "jira_dev",
        "work_item_key": "PUL-1",
        "active": None,  # NOT NULL: the database refuses the batch's last table
    }
    rows = {**batch.rows, "work_item_pr_links": [*batch.rows["work_item_pr_links"], bad_link]}
    broken = LoadBatch(batch.tenant_id, batch.job_run_id, rows, batch.raw_ids)

    with pytest.raises(LoadError) as failure:
        world.load(broken)

    assert failure.value.kind is ErrorKind.FATAL
    assert failure.value.context["table"] == "work_item_pr_links"
    assert all(rows == [] for rows in world.dump().values())
    assert set(world.processed([item.raw_id, pr.raw_id]).values()) == {None}
    assert world.loaded() == 7
    world.load(batch)  # the same records without the bad row load
    assert len(world.rows("work_items")) == 1


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            OperationalError("x", {}, psycopg.errors.DeadlockDetected("deadlock")),
            TransientLoadError,
        ),
        (psycopg.errors.SerializationFailure("could not serialize"), TransientLoadError),
        (
            OperationalError("x", {}, sqlite3.OperationalError("database is locked")),
            TransientLoadError,
        ),
        (IntegrityError("x", {}, psycopg.errors.NotNullViolation("null")), LoadError),
        (OperationalError("x", {}, sqlite3.OperationalError("no such table: x")), LoadError),
    ],
)
def test_database_failures_are_classified(error: Exception, kind: type[Exception]) -> None:
    classified = database_error(error, "loading failed", tenant=1, table="work_items")
    assert type(classified) is kind
    assert "work_items" in str(classified)


def test_rows_of_another_tenant_are_refused(world: World) -> None:
    batch = world.batch(world.record("jira.issue", issue(1)))
    item = {**batch.rows["work_items"][0], "tenant_id": world.tenant_id + 1}
    foreign = LoadBatch(world.tenant_id, world.run_id, {**batch.rows, "work_items": [item]})
    with pytest.raises(LoadError, match="belongs to tenant"):
        world.load(foreign)
    assert world.rows("work_items") == []


def test_a_child_row_of_another_tenant_is_refused(world: World) -> None:
    """Child tables have no tenant foreign key of their own (migration 0004): the loader's
    check is what keeps a transition from landing under another tenant."""
    batch = world.batch(world.record("jira.issue", issue(1)))
    transitions = batch.rows["work_item_transitions"]
    assert transitions
    stray = [{**transitions[0], "tenant_id": world.tenant_id + 1}, *transitions[1:]]
    foreign = LoadBatch(
        world.tenant_id, world.run_id, {**batch.rows, "work_item_transitions": stray}
    )
    with pytest.raises(LoadError, match="work_item_transitions row belongs to tenant"):
        world.load(foreign)
    assert world.rows("work_items") == []
    assert world.rows("work_item_transitions") == []


def test_a_batch_the_loader_would_have_to_guess_about_is_refused(world: World) -> None:
    batch = world.batch(
        world.record("jira.issue", issue(1)),
        world.record("github.pull_request", pull_request(5)),
    )
    items = batch.rows["work_items"]
    transitions = batch.rows["work_item_transitions"]
    cases: dict[str, dict[str, Sequence[Mapping[str, Any]]]] = {
        "twice": {"work_items": [*items, items[0]]},  # whose children are these?
        "not among the batch": {"work_item_transitions": transitions, "work_items": []},
        "not in the batch": {  # title/branch links without their pull request
            "pull_requests": [],
            **{name: [] for name in ("pr_commits", "pr_reviews", "pr_comments")},
        },
        "does not write": {"comments": [{"tenant_id": world.tenant_id}]},
        "link_source": {
            "work_item_pr_links": [{**batch.rows["work_item_pr_links"][0], "link_source": "x"}]
        },
        "has no external_id": {"work_items": [{**items[0], "external_id": None}]},
    }
    for message, change in cases.items():
        with pytest.raises(LoadError, match=message):
            world.load(LoadBatch(world.tenant_id, world.run_id, {**batch.rows, **change}))
    assert world.rows("work_items") == []
