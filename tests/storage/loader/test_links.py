"""Work item ↔ pull request links: dev-status keys resolved from work items (or deferred, never
made up), dev-status sets and title/branch links replaced only by newer records."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage import raw_store
from storage.schema import OutboxEntry, utcnow

from .payloads import REPO, dev_status, issue, pull_request
from .world import Record, World


def _links(world: World, source: str | None = None) -> list[tuple[str, str, int, str]]:
    return sorted(
        (r["link_source"], r["work_item_key"], r["pr_number"], r["pr_status"])
        for r in world.rows("work_item_pr_links")
        if source is None or r["link_source"] == source
    )


def test_dev_status_links_get_the_key_of_their_work_item(world: World) -> None:
    item = world.record("jira.issue", issue(1))
    dev = world.record("jira.dev_status", dev_status(1, [(REPO, 5, "MERGED"), (REPO, 9, "OPEN")]))

    result = world.load_records(item, dev)  # the item loads in the same batch, first

    assert result.unresolved_links == 0
    assert _links(world) == [("jira_dev", "PUL-1", 5, "merged"), ("jira_dev", "PUL-1", 9, "open")]
    assert world.processed([dev.raw_id])[dev.raw_id] is not None


def test_a_link_to_an_unknown_work_item_waits_for_it(world: World) -> None:
    early = world.record("jira.dev_status", dev_status(2, [(REPO, 5, "MERGED")]))
    other = world.record("jira.dev_status", dev_status(1, [(REPO, 6, "OPEN")]))
    world.load_records(world.record("jira.issue", issue(1)))

    result = world.load_records(early, other)

    assert (result.unresolved_links, result.deferred_raw_ids) == (1, frozenset({early.raw_id}))
    assert _links(world) == [("jira_dev", "PUL-1", 6, "open")]  # no made-up key for issue 2
    processed = world.processed([early.raw_id, other.raw_id])
    assert processed[early.raw_id] is None
    assert processed[other.raw_id] is not None

    # The sweeper sends the unprocessed record through again (and only that one) ...
    sent = utcnow() - timedelta(hours=1)
    with world.factory.begin() as session:
        for record in (early, other):
            session.add(
                OutboxEntry(
                    tenant_id=world.tenant_id,
                    integration_id=world.jira_id,
                    raw_id=record.raw_id,
                    entity=record.entity,
                    partition=0,
                    created_at=sent,
                    published_at=sent,
                )
            )
    with world.factory.begin() as session:
        assert raw_store.requeue_stale(session, older_than=utcnow(), partitions=4) == 1
        requeued = session.scalars(
            select(OutboxEntry.raw_id).where(OutboxEntry.published_at.is_(None))
        ).all()
    assert requeued == [early.raw_id]

    # ... and once the work item has loaded, the link loads.
    world.load_records(world.record("jira.issue", issue(2)))
    again = world.load_records(world.transform(early.raw_id))
    assert (again.unresolved_links, again.written["work_item_pr_links"]) == (0, 1)
    assert ("jira_dev", "PUL-2", 5, "merged") in _links(world)
    assert world.processed([early.raw_id])[early.raw_id] is not None


def test_a_newer_dev_status_replaces_the_issue_links_and_an_older_one_does_not(
    world: World,
) -> None:
    item = world.record("jira.issue", issue(1))
    both = world.record("jira.dev_status", dev_status(1, [(REPO, 5, "OPEN"), (REPO, 9, "OPEN")]))
    world.load_records(item, both)
    merged_only = world.record("jira.dev_status", dev_status(1, [(REPO, 5, "MERGED")]))

    assert world.load_records(merged_only).written["work_item_pr_links"] == 1
    assert _links(world) == [("jira_dev", "PUL-1", 5, "merged")]  # PR 9 was unlinked in Jira

    replay = world.load_records(both)  # the older record, again
    assert replay.written["work_item_pr_links"] == 0
    assert _links(world) == [("jira_dev", "PUL-1", 5, "merged")]


def test_two_dev_status_records_of_one_issue_in_a_batch_keep_the_newest(world: World) -> None:
    item = world.record("jira.issue", issue(1))
    older = world.record("jira.dev_status", dev_status(1, [(REPO, 9, "OPEN")]))
    newer = world.record("jira.dev_status", dev_status(1, [(REPO, 5, "MERGED")]))

    world.load_records(newer, item, older)

    assert _links(world) == [("jira_dev", "PUL-1", 5, "merged")]


def _pr_links(world: World) -> list[tuple[str, str, int]]:
    return [(s, k, n) for s, k, n, _ in _links(world) if s != "jira_dev"]


def test_title_and_branch_links_follow_the_pull_request(world: World) -> None:
    first = world.record(
        "github.pull_request",
        pull_request(5, title="PUL-1: export", branch="feature/PUL-2-export", updated=5),
    )
    renamed = world.record(
        "github.pull_request",
        pull_request(
            5, title="PUL-3: export, done right", branch="feature/PUL-2-export", updated=9
        ),
    )
    dev: list[Record] = [
        world.record("jira.issue", issue(1)),
        world.record("jira.dev_status", dev_status(1, [(REPO, 5, "MERGED")])),
    ]
    world.load_records(first, *dev)
    assert _pr_links(world) == [("branch", "PUL-2", 5), ("title", "PUL-1", 5)]

    world.load_records(renamed)
    assert _pr_links(world) == [("branch", "PUL-2", 5), ("title", "PUL-3", 5)]
    assert _links(world, "jira_dev") == [("jira_dev", "PUL-1", 5, "merged")]  # not the PR's own

    assert world.load_records(first).written["work_item_pr_links"] == 0  # older: no change
    assert _pr_links(world) == [("branch", "PUL-2", 5), ("title", "PUL-3", 5)]


def test_a_pull_request_moved_to_another_repository_leaves_no_links_behind(world: World) -> None:
    world.load_records(world.record("github.pull_request", pull_request(5, updated=5)))
    moved = pull_request(5, updated=9)
    moved["repository"]["nameWithOwner"] = "acme/platform"  # transferred, same node id

    world.load_records(world.record("github.pull_request", moved))

    repositories = {r["repository_full_name"] for r in world.rows("work_item_pr_links")}
    assert repositories == {"acme/platform"}
