"""Semantic search as the web UI calls it: relevant hits first, and never another tenant's."""

from __future__ import annotations

import pytest

from dataflows.vectorize import QdrantStore, search, vector_coverage, vectorize_facts
from tests.storage.loader.world import World

from .conftest import CountingEmbedder
from .facts import add_pull_request, add_work_item, pull_request_request, work_item_request

pytestmark = pytest.mark.integration


def _fill(world: World, embedder: CountingEmbedder, store: QdrantStore, prefix: str) -> None:
    add_work_item(world, "1", f"{prefix}: login page rejects valid passwords")
    add_work_item(world, "2", f"{prefix}: quarterly marketing budget spreadsheet")
    add_pull_request(world, "PR_1", f"{prefix}: fix password check on the login form")
    vectorize_facts(
        world.factory,
        embedder,
        store,
        [work_item_request(world, "1", "2"), pull_request_request(world, "PR_1")],
    )


def test_search_finds_the_tenants_own_relevant_facts_first(
    acme: World, globex: World, embedder: CountingEmbedder, store: QdrantStore
) -> None:
    _fill(acme, embedder, store, "Acme")
    _fill(globex, embedder, store, "Globex")  # the same texts: the nearest points of all

    hits = search(store, embedder, acme.tenant_id, "users cannot sign in", limit=10)

    assert len(hits) == 3  # Globex's identical facts never appear
    assert all(h.title is not None and h.title.startswith("Acme") for h in hits)
    assert hits[-1].key == "PUL-2"  # the budget item is the least related
    assert hits[0].score > hits[-1].score
    prs = search(store, embedder, acme.tenant_id, "users cannot sign in", entity="pull_request")
    assert [(h.entity, h.external_id, h.key) for h in prs] == [
        ("pull_request", "PR_1", "acme/pulse#1")
    ]
    assert prs[0].url == "https://github.com/acme/pulse/pull/1"
    assert {h.integration_id for h in hits} == {acme.jira_id, acme.github_id}


def test_a_tenant_without_vectors_gets_no_hits_even_when_others_match(
    acme: World, globex: World, embedder: CountingEmbedder, store: QdrantStore
) -> None:
    _fill(globex, embedder, store, "Globex")

    assert search(store, embedder, acme.tenant_id, "login page rejects passwords") == []
    assert search(store, embedder, acme.tenant_id, "   ") == []
    with pytest.raises(ValueError, match="entity"):
        search(store, embedder, acme.tenant_id, "login", entity="sprint")


def test_coverage_compares_postgresql_with_qdrant_per_entity(
    acme: World, globex: World, embedder: CountingEmbedder, store: QdrantStore
) -> None:
    _fill(acme, embedder, store, "Acme")
    _fill(globex, embedder, store, "Globex")
    add_work_item(acme, "3", "Not embedded yet")

    coverage = {c.entity: c for c in vector_coverage(acme.factory, store, acme.tenant_id)}

    items = coverage["work_item"]
    assert (items.facts, items.recorded, items.current, items.qdrant_points) == (3, 2, 2, 2)
    assert not items.in_sync
    assert coverage["pull_request"].in_sync
    assert coverage["pull_request"].qdrant_points == 1
