"""Building a batch from transform outputs, and the keys the loader writes by (no database)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import UniqueConstraint

from storage.loader import TABLE_ORDER, LoadBatch
from storage.loader_facts import CHILDREN
from storage.loader_sql import LINK_KEY, LINKS, NATURAL_KEY
from storage.schema import Base


def _item(external_id: str, version: int, seqs: range) -> dict[str, list[dict[str, Any]]]:
    scope = {"tenant_id": 1, "integration_id": 2}
    return {
        "work_items": [{**scope, "external_id": external_id, "version": version}],
        "work_item_transitions": [
            {**scope, "work_item_external_id": external_id, "seq": s, "version_seen": version}
            for s in seqs
        ],
        "sprints": [{**scope, "external_id": "7", "version": version}],
    }


def _pr(external_id: str, version: int, title_key: str) -> dict[str, list[dict[str, Any]]]:
    scope = {"tenant_id": 1, "integration_id": 3}
    link = {"repository_full_name": "acme/api", "pr_number": 5, "version": version}
    return {
        "pull_requests": [{**scope, "external_id": external_id, "version": version, "number": 5}],
        "pr_commits": [{**scope, "pull_request_external_id": external_id, "sha": f"s{version}"}],
        "work_item_pr_links": [
            {**scope, **link, "link_source": "title", "work_item_key": title_key},
        ],
    }


def test_the_newest_record_of_an_item_keeps_its_children_whatever_the_order() -> None:
    older, newer = _item("10001", 5, range(1, 4)), _item("10001", 9, range(1, 2))
    for outputs in ([older, newer], [newer, older]):
        batch = LoadBatch.from_outputs(1, 4, outputs, raw_ids=[11, 12])
        assert [r["version"] for r in batch.rows["work_items"]] == [9]
        assert [r["version_seen"] for r in batch.rows["work_item_transitions"]] == [9]
        # Rows not owned by the item (a sprint seen in both records) are all kept: the upsert
        # keeps the newest of those by their own version.
        assert sorted(r["version"] for r in batch.rows["sprints"]) == [5, 9]
        assert batch.raw_ids == (11, 12)


def test_title_links_go_with_their_pull_request_and_dev_links_with_nobody() -> None:
    dev = {
        "work_item_pr_links": [
            {"tenant_id": 1, "integration_id": 2, "link_source": "jira_dev", "version": 1}
        ]
    }
    batch = LoadBatch.from_outputs(1, None, [_pr("PR_1", 9, "PUL-3"), dev, _pr("PR_1", 5, "PUL-1")])
    links = sorted((r["link_source"], r.get("work_item_key")) for r in batch.rows[LINKS])
    assert links == [("jira_dev", None), ("title", "PUL-3")]
    assert [r["sha"] for r in batch.rows["pr_commits"]] == ["s9"]


def test_the_loader_writes_by_the_schema_unique_constraints() -> None:
    keys: dict[str, tuple[str, ...]] = {name: NATURAL_KEY for name in TABLE_ORDER}
    keys.update({spec.table: spec.key for spec in CHILDREN})
    keys[LINKS] = LINK_KEY
    for name, key in keys.items():
        table = Base.metadata.tables[name]
        unique = {
            frozenset(c.name for c in constraint.columns)
            for constraint in table.constraints
            if isinstance(constraint, UniqueConstraint)
        }
        assert frozenset(key) in unique, f"{name} has no unique constraint on {key}"
