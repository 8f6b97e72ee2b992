"""A status read from several projects lists all of them, whatever order the records come in."""

from __future__ import annotations

from .payloads import status
from .world import World


def _status(world: World) -> dict:
    (row,) = world.rows("statuses")
    return row


def test_project_keys_are_united_across_records_and_batches(world: World) -> None:
    alpha = world.record("jira.status", status("3", "In Progress", "ALPHA"))
    delta = world.record("jira.status", status("3", "In Progress", "DELTA"))  # loaded last
    beta = world.record("jira.status", status("3", "In Progress", "BETA"))
    gamma = world.record("jira.status", status("3", "Doing", "GAMMA"))  # renamed since

    assert world.load_records(alpha, beta).written["statuses"] == 1
    assert _status(world)["project_keys"] == ["ALPHA", "BETA"]

    world.load_records(gamma)
    row = _status(world)
    assert row["project_keys"] == ["ALPHA", "BETA", "GAMMA"]
    assert (row["name"], row["version"]) == ("Doing", gamma.raw_id)

    assert world.load_records(alpha).written["statuses"] == 0  # nothing new: no write

    # An older record of a project not seen yet adds its key and nothing else.
    assert world.load_records(delta).written["statuses"] == 1
    row = _status(world)
    assert row["project_keys"] == ["ALPHA", "BETA", "DELTA", "GAMMA"]
    assert (row["name"], row["version"], row["raw_id"]) == ("Doing", gamma.raw_id, gamma.raw_id)


def test_statuses_of_other_ids_stay_apart(world: World) -> None:
    world.load_records(
        world.record("jira.status", status("3", "In Progress", "ALPHA")),
        world.record("jira.status", status("4", "Done", "ALPHA")),
        world.record("jira.status", status("4", "Done", "BETA")),
    )
    rows = world.rows("statuses", by=["external_id"])
    assert [(r["external_id"], r["project_keys"]) for r in rows] == [
        ("3", ["ALPHA"]),
        ("4", ["ALPHA", "BETA"]),
    ]
