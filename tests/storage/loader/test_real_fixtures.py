"""Recorded real payloads (../shared/fixtures/real, read in place) load on both dialects:
Chinese status and type names, `+0800` offsets, null assignees, sub-tasks, legacy sprints, a
GitHub GraphQL page with reviews by deleted users."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine

from connectors.records import utc_version
from dataflows.rules import transform_record
from storage.loader import LoadBatch
from storage.raw_store import without_nul
from tests.conftest import FIXTURES
from tests.dataflows.rules.helpers import devlake

from .world import Record, World

_SLOTS = {  # the recorded site's field ids
    "sprints": "customfield_10020",
    "story_points": "customfield_10024",
    "development": "customfield_10000",
    "team": "customfield_10001",
}


def _store(world: World, entity: str, payloads: list[tuple[str, str, Any]]) -> list[Record]:
    # without_nul: what the raw store does before anything reaches the rules.
    return [
        world.transform(world.store(entity, external_id, version, without_nul(payload)))
        for external_id, version, payload in payloads
    ]


def test_recorded_jira_and_github_payloads_load_and_replay(world: World) -> None:
    for slot, field_id in _SLOTS.items():
        if slot != "sprints":
            world.map_field(slot, field_id)
    fetched = "2024-05-01T00:00:00.000+00:00"
    issues = [row["data"] for row in devlake("jira/_raw_jira_api_issues.csv")]
    document = json.loads((FIXTURES / "faros" / "github-graphql-pull-requests.json").read_text())
    pulls = document["repository"]["pullRequests"]["nodes"]
    records = [
        *_store(
            world,
            "jira.project",
            [
                (str(r["data"]["id"]), fetched, r["data"])
                for r in devlake("jira/_raw_jira_api_projects.csv")
            ],
        ),
        *_store(
            world,
            "jira.status",
            [
                (str(r["data"]["id"]), fetched, r["data"])
                for r in devlake("jira/_raw_jira_api_status.csv")
            ],
        ),
        *_store(
            world,
            "jira.sprint",
            [
                (str(r["data"]["id"]), fetched, r["data"])
                for r in devlake("jira/_raw_jira_api_sprints.csv")
            ],
        ),
        *_store(
            world,
            "jira.issue",
            [(i["id"], utc_version(i["fields"]["updated"]), i) for i in issues],
        ),
        *_store(
            world,
            "github.pull_request",
            [(p["url"], utc_version(p["updatedAt"]), p) for p in pulls],
        ),
    ]
    assert all(r.output is not None for r in records)

    first = world.load(world.batch(*records))

    expected_transitions = sum(
        len(r.rows.get("work_item_transitions", [])) for r in records if r.entity == "jira.issue"
    )
    assert expected_transitions > 100
    assert first.written["work_items"] == len(issues) == 33
    assert first.written["work_item_transitions"] == expected_transitions
    assert first.written["pull_requests"] == 3
    assert len(first.changed) == 36
    assert {r["key"] for r in world.rows("work_items")} == {i["key"] for i in issues}
    before = world.dump(surrogate=True)

    assert world.load(world.batch(*records)).total_written == 0
    assert world.dump(surrogate=True) == before


@pytest.mark.integration
def test_a_nul_character_in_a_summary(pg_engine: Engine) -> None:
    """PostgreSQL cannot store U+0000: the raw store removes it from what the source sent, so
    the record reaching the rules and the loader is clean."""
    world = World(pg_engine)
    (recorded,) = [
        row["data"]
        for row in devlake("jira/_raw_jira_api_issues.csv")
        if row["data"]["key"] == "EE-4"
    ]
    assert recorded["fields"]["summary"].endswith("\x00")
    recorded = without_nul(recorded)
    output = transform_record(
        "jira.issue",
        1,
        recorded["id"],
        utc_version(recorded["fields"]["updated"]),
        recorded,
        world.config(),
        world.jira_id,
        world.run_id,
    )
    world.load(LoadBatch.from_outputs(world.tenant_id, world.run_id, [output.rows]))
    assert len(world.rows("work_items")) == 1
