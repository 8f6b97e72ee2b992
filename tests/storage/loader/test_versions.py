"""Replays are harmless, newer versions win with their children, older ones change nothing, and
a configuration change rewrites facts at the same source version."""

from __future__ import annotations

from sqlalchemy import select, text

from storage.repositories.tenants import bump_config_version
from storage.schema import Base, StatusMapping, Workflow

from .payloads import REPO, dev_status, issue, project, pull_request, status
from .world import Record, World


def _full_batch(world: World) -> list[Record]:
    return [
        world.record("jira.project", project("PUL")),
        world.record("jira.status", status("3", "In Progress", "PUL")),
        world.record("jira.issue", issue(1, sprints=[7, 8])),
        world.record("jira.issue", issue(2, path=("In Progress", "Testing"))),
        world.record("github.pull_request", pull_request(5)),
        world.record("jira.dev_status", dev_status(1, [(REPO, 5, "MERGED")])),
    ]


def test_replaying_a_batch_leaves_every_table_as_it_was(world: World) -> None:
    batch = world.batch(*_full_batch(world))
    first = world.load(batch)
    assert {t: n for t, n in first.written.items() if n} == {
        "projects": 1,
        "statuses": 1,
        "sprints": 2,
        "work_items": 2,
        "pull_requests": 1,
        "work_item_transitions": 5,
        "work_item_sprints": 2,
        "pr_commits": 3,
        "pr_reviews": 2,
        "pr_comments": 2,
        "work_item_pr_links": 3,  # title PUL-1, branch PUL-2, jira_dev PUL-1
    }
    before = world.dump(surrogate=True)  # ids and updated_at included: children not rewritten
    loaded = world.loaded()

    second = world.load(batch)

    assert second.total_written == 0
    assert second.changed == []
    assert world.dump(surrogate=True) == before
    assert world.loaded() == loaded == 3


def test_an_older_version_does_not_undo_a_newer_one(world: World) -> None:
    old_item = world.record("jira.issue", issue(1, path=("In Progress",), summary="old"))
    old_pr = world.record("github.pull_request", pull_request(5, updated=5, commits=("a1",)))
    new_item = world.record(
        "jira.issue", issue(1, path=("In Progress", "Code Review", "Done"), summary="new")
    )
    new_pr = world.record("github.pull_request", pull_request(5, updated=9, title="PUL-3 later"))
    world.load_records(new_item, new_pr)
    newest = world.dump(surrogate=True)

    replay = world.load_records(old_item, old_pr)

    assert replay.total_written == 0
    assert world.dump(surrogate=True) == newest
    assert [t["to_status"] for t in world.rows("work_item_transitions", by=["seq"])] == [
        "In Progress",
        "Code Review",
        "Done",
    ]
    assert len(world.rows("pr_commits")) == 3


def test_a_newer_version_replaces_the_children(world: World) -> None:
    world.load_records(
        world.record("jira.issue", issue(1, sprints=[7, 8])),
        world.record("github.pull_request", pull_request(5, updated=5)),
    )
    # At the source: the Code Review history was deleted, sprint 8 left the sprint field, and
    # the pull request lost a commit, a review and a comment (force-push, deletions).
    result = world.load_records(
        world.record("jira.issue", issue(1, drop=(1,), sprints=[7], updated=9)),
        world.record(
            "github.pull_request",
            pull_request(5, updated=9, commits=("a1", "c3"), reviews=("r2",), comments=("k2",)),
        ),
    )

    assert result.written["work_item_transitions"] == 2
    transitions = world.rows("work_item_transitions", by=["seq"])
    assert [(t["seq"], t["from_status"], t["to_status"]) for t in transitions] == [
        (1, "To Do", "In Progress"),
        (2, "Code Review", "Done"),  # the history into Code Review is gone
    ]
    assert [s["sprint_external_id"] for s in world.rows("work_item_sprints")] == ["7"]
    assert [c["sha"] for c in world.rows("pr_commits", by=["sha"])] == ["a1", "c3"]
    assert [r["external_id"] for r in world.rows("pr_reviews")] == ["r2"]
    assert [c["external_id"] for c in world.rows("pr_comments")] == ["k2"]
    (item,) = world.rows("work_items")
    assert (item["start_count"], item["completion_count"]) == (1, 1)


def test_the_newest_record_of_an_item_wins_within_one_batch(world: World) -> None:
    newer = world.record("jira.issue", issue(1, drop=(1,), updated=9))
    older = world.record("jira.issue", issue(1))  # stored later, but an older version

    result = world.load_records(newer, older)

    assert result.written["work_items"] == 1
    transitions = world.rows("work_item_transitions", by=["seq"])
    assert [t["to_status"] for t in transitions] == ["In Progress", "Done"]


def test_a_configuration_change_rewrites_facts_at_the_same_version(world: World) -> None:
    record = world.record("jira.issue", issue(1, path=("Peer Check", "Done")))
    world.load_records(record)
    (before,) = world.rows("work_items")
    assert before["status_mapped"] is True
    assert [t["to_step"] for t in world.rows("work_item_transitions", by=["seq"])] == [None, "Done"]

    with world.factory.begin() as session:  # the admin maps "Peer Check"
        step = session.scalar(
            select(Workflow).where(
                Workflow.tenant_id == world.tenant_id, Workflow.step_name == "Code Review"
            )
        )
        assert step is not None
        session.add(
            StatusMapping(
                tenant_id=world.tenant_id,
                source_name="Peer Check",
                source_key="peer check",
                workflow_id=step.id,
            )
        )
        bump_config_version(session, world.tenant_id)
    replay = world.transform(record.raw_id)  # same raw record, same source version
    result = world.load_records(replay)

    assert result.written["work_items"] == 1
    (after,) = world.rows("work_items")
    assert (after["version"], after["config_version"]) == (
        before["version"],
        before["config_version"] + 1,
    )
    assert [t["to_step"] for t in world.rows("work_item_transitions", by=["seq"])] == [
        "Code Review",
        "Done",
    ]
    assert after["step_seconds"] != before["step_seconds"]
    # The embedded text (key, type, summary, status name, labels) did not change.
    assert result.changed == []


def test_a_newer_version_with_the_same_children_leaves_them_in_place(world: World) -> None:
    world.load(world.batch(world.record("jira.issue", issue(1, sprints=[7], updated=10))))
    before = world.rows("work_item_transitions", surrogate=True)

    renamed = issue(1, sprints=[7], updated=20, summary="Renamed")
    result = world.load(world.batch(world.record("jira.issue", renamed)))
    assert result.written["work_items"] == 1
    assert result.written["work_item_transitions"] == result.written["work_item_sprints"] == 0
    assert world.rows("work_item_transitions", surrogate=True) == before  # the same rows, ids
    assert [r["summary"] for r in world.rows("work_items")] == ["Renamed"]

    moved = issue(1, path=("In Progress", "Done"), sprints=[7], updated=30)
    result = world.load(world.batch(world.record("jira.issue", moved)))
    assert result.written["work_item_transitions"] == 2
    assert result.written["work_item_sprints"] == 1  # replaced with its siblings
    assert [r["to_status"] for r in world.rows("work_item_transitions", by=("seq",))] == [
        "In Progress",
        "Done",
    ]


def test_deleting_a_tenant_removes_its_facts_and_their_children(world: World) -> None:
    """Child rows reach the tenant only through their parent's foreign key (migration 0004):
    the cascade must still leave nothing of the tenant behind."""
    world.load(world.batch(*_full_batch(world)))
    tenant = world.tenant_id
    with world.engine.begin() as conn:
        assert conn.execute(
            text("SELECT count(*) FROM work_item_transitions WHERE tenant_id = :t"), {"t": tenant}
        ).scalar_one()
        conn.execute(text("DELETE FROM tenants WHERE id = :t"), {"t": tenant})
    with world.engine.connect() as conn:
        left = {
            table.name: conn.execute(
                text(f"SELECT count(*) FROM {table.name} WHERE tenant_id = :t"), {"t": tenant}
            ).scalar_one()
            for table in Base.metadata.sorted_tables
            if "tenant_id" in table.c
        }
    assert {name: count for name, count in left.items() if count} == {}
