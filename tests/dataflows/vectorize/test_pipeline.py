"""`vectorize_facts` on the real PostgreSQL, the real local model and Qdrant local mode: what
gets embedded, what is skipped, and what vector_points and job_runs say afterwards."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import Engine, delete, select

from dataflows.vectorize import QdrantStore, collection_name, point_id, vectorize_facts
from dataflows.vectorize.backlog import sweep_tenant
from storage import vectors
from storage.db import transaction
from storage.schema import DeadLetter, VectorPoint, WorkItem
from tests.storage.loader.world import World

from .conftest import CountingEmbedder
from .facts import (
    add_pull_request,
    add_work_item,
    change_work_item,
    load_real_payloads,
    mark_deleted,
    pull_request_request,
    vector_rows,
    vectorized,
    work_item_request,
)


def _collection(embedder: CountingEmbedder) -> str:
    return collection_name(embedder.model, embedder.dimension)


@pytest.mark.integration
def test_facts_are_embedded_with_real_vectors_and_recorded(
    acme: World, embedder: CountingEmbedder, store: QdrantStore
) -> None:
    item = add_work_item(acme, "1", "Login fails with SSO", labels=("auth",))
    add_work_item(acme, "2", "Quarterly budget spreadsheet")
    add_pull_request(acme, "PR_1", "Fix SSO redirect loop", body="Closes PUL-1")

    result = vectorize_facts(
        acme.factory,
        embedder,
        store,
        [work_item_request(acme, "1", "2"), pull_request_request(acme, "PR_1")],
    )

    assert (result.embedded, result.unchanged, result.gone) == (3, 0, 0)
    rows = vector_rows(acme)
    assert set(rows) == {"1", "2", "PR_1"}
    assert rows["1"].content_hash == item["content_hash"]
    assert rows["1"].model == "sentence-transformers/all-MiniLM-L6-v2"
    expected_id = point_id(acme.tenant_id, "work_item", acme.jira_id, "1")
    assert rows["1"].point_id == expected_id
    (point,) = store.retrieve(_collection(embedder), [expected_id], tenant_id=acme.tenant_id)
    assert len(point.vector) == 384
    assert math.isclose(math.sqrt(sum(v * v for v in point.vector)), 1.0, rel_tol=1e-4)
    assert point.payload == {
        "tenant_id": str(acme.tenant_id),
        "integration_id": acme.jira_id,
        "entity": "work_item",
        "external_id": "1",
        "key": "PUL-1",
        "title": "Login fails with SSO",
        "url": None,
        "raw_id": 1,
        "job_run_id": acme.run_id,
        "content_hash": item["content_hash"],
    }
    assert vectorized(acme) == 3  # counted from rows: every fact the run loaded is embedded


@pytest.mark.integration
def test_point_ids_are_deterministic_so_a_redo_overwrites(
    acme: World, embedder: CountingEmbedder, store: QdrantStore
) -> None:
    add_work_item(acme, "1", "Login fails with SSO")
    vectorize_facts(acme.factory, embedder, store, [work_item_request(acme, "1")])
    with transaction(acme.factory) as session:  # as if vector_points had been lost
        session.execute(delete(VectorPoint))

    vectorize_facts(acme.factory, embedder, store, [work_item_request(acme, "1")])

    assert store.count(_collection(embedder), tenant_id=acme.tenant_id) == 1
    assert point_id(1, "work_item", 2, "X") == point_id(1, "work_item", 2, "X")
    assert point_id(1, "work_item", 2, "X") != point_id(2, "work_item", 2, "X")
    assert point_id(1, "work_item", 2, "X") != point_id(1, "pull_request", 2, "X")


@pytest.mark.integration
def test_unchanged_content_is_not_embedded_again(
    acme: World, embedder: CountingEmbedder, store: QdrantStore
) -> None:
    add_work_item(acme, "1", "Login fails with SSO")
    add_work_item(acme, "2", "Quarterly budget spreadsheet")
    vectorize_facts(acme.factory, embedder, store, [work_item_request(acme, "1", "2")])
    embedder.texts.clear()

    again = vectorize_facts(acme.factory, embedder, store, [work_item_request(acme, "1", "2", "1")])

    assert (again.embedded, again.unchanged) == (0, 2)
    assert embedder.texts == []


@pytest.mark.integration
def test_changed_content_is_embedded_again(
    acme: World, embedder: CountingEmbedder, store: QdrantStore
) -> None:
    add_work_item(acme, "1", "Login fails with SSO")
    add_work_item(acme, "2", "Quarterly budget spreadsheet")
    vectorize_facts(acme.factory, embedder, store, [work_item_request(acme, "1", "2")])
    pid = point_id(acme.tenant_id, "work_item", acme.jira_id, "1")
    (before,) = store.retrieve(_collection(embedder), [pid], tenant_id=acme.tenant_id)
    embedder.texts.clear()

    new_hash = change_work_item(acme, "1", summary="Dark mode for the settings page")
    result = vectorize_facts(acme.factory, embedder, store, [work_item_request(acme, "1", "2")])

    assert (result.embedded, result.unchanged) == (1, 1)
    assert len(embedder.texts) == 1
    assert "Dark mode" in embedder.texts[0]
    (after,) = store.retrieve(_collection(embedder), [pid], tenant_id=acme.tenant_id)
    assert after.payload["content_hash"] == new_hash == vector_rows(acme)["1"].content_hash
    assert after.vector != before.vector
    assert store.count(_collection(embedder), tenant_id=acme.tenant_id) == 2


@pytest.mark.integration
def test_missing_and_deleted_facts_are_skipped_reported_and_their_points_removed(
    acme: World, embedder: CountingEmbedder, store: QdrantStore
) -> None:
    add_work_item(acme, "1", "Login fails with SSO")
    add_work_item(acme, "2", "Quarterly budget spreadsheet")
    vectorize_facts(acme.factory, embedder, store, [work_item_request(acme, "1", "2")])
    mark_deleted(acme, "2")

    result = vectorize_facts(
        acme.factory, embedder, store, [work_item_request(acme, "1", "2", "404")]
    )

    assert (result.embedded, result.unchanged, result.gone) == (0, 1, 2)
    assert sorted(result.gone_ids) == ["2", "404"]
    assert result.removed_points == 1
    assert set(vector_rows(acme)) == {"1"}
    assert store.count(_collection(embedder), tenant_id=acme.tenant_id) == 1


@pytest.mark.integration
def test_a_row_whose_hash_is_not_its_text_is_dead_lettered_not_embedded(
    acme: World, embedder: CountingEmbedder, store: QdrantStore
) -> None:
    add_work_item(acme, "1", "Login fails with SSO")
    with transaction(acme.factory) as session:
        item = session.scalars(select(WorkItem).where(WorkItem.external_id == "1")).one()
        item.content_hash = "0" * 64  # written by another version of the text template

    for _ in range(2):  # a redelivery does not add a second dead letter
        result = vectorize_facts(acme.factory, embedder, store, [work_item_request(acme, "1")])
        assert (result.embedded, result.mismatched) == (0, 1)

    assert embedder.texts == []
    assert vector_rows(acme) == {}
    with acme.factory() as session:
        (dead,) = session.scalars(select(DeadLetter)).all()
    assert (dead.stage, dead.entity, dead.external_id) == ("vectorize", "work_item", "1")
    assert "content hash mismatch" in dead.error
    assert "0" * 64 in dead.error


@pytest.mark.integration
def test_real_jira_and_github_rows_hash_to_their_stored_content_hash(
    acme: World, embedder: CountingEmbedder, store: QdrantStore
) -> None:
    """The recorded real payloads, through the real rules and loader: the text rebuilt from
    each PostgreSQL row has exactly the hash the transform stored, so nothing is a mismatch."""
    items, pulls = load_real_payloads(acme)
    assert len(items) == 33
    assert len(pulls) == 3

    result = vectorize_facts(
        acme.factory,
        embedder,
        store,
        [work_item_request(acme, *items), pull_request_request(acme, *pulls)],
    )

    assert (result.embedded, result.mismatched, result.gone) == (36, 0, 0)


@pytest.mark.integration
def test_the_sweep_embeds_what_no_request_announced(
    acme: World, embedder: CountingEmbedder, store: QdrantStore
) -> None:
    add_work_item(acme, "1", "Login fails with SSO")
    add_work_item(acme, "2", "Quarterly budget spreadsheet")
    add_pull_request(acme, "PR_1", "Fix SSO redirect loop")
    vectorize_facts(acme.factory, embedder, store, [work_item_request(acme, "1")])
    change_work_item(acme, "1", summary="Login fails with SAML")
    with acme.factory() as session:
        backlog = vectors.facts_needing_vectors(session, acme.tenant_id, 10)
    assert [(k.entity, k.external_id) for k in backlog] == [
        ("pull_request", "PR_1"),
        ("work_item", "1"),
        ("work_item", "2"),
    ]

    result = sweep_tenant(acme.factory, embedder, store, acme.tenant_id, page=2)

    assert result.embedded == 3
    with acme.factory() as session:
        assert vectors.facts_needing_vectors(session, acme.tenant_id, 10) == []
        counts = {c.entity: c for c in vectors.vector_counts(session, acme.tenant_id)}
    assert (counts["work_item"].facts, counts["work_item"].current) == (2, 2)
    assert (counts["pull_request"].facts, counts["pull_request"].current) == (1, 1)


def test_the_embedded_mode_vectorizes_on_sqlite(
    sqlite_engine: Engine, embedder: CountingEmbedder, store: QdrantStore
) -> None:
    """The demo's path: SQLite and Qdrant local mode, same functions."""
    world = World(sqlite_engine)
    add_work_item(world, "1", "Login fails with SSO")
    add_pull_request(world, "PR_1", "Fix SSO redirect loop")
    requests = [work_item_request(world, "1", "404"), pull_request_request(world, "PR_1")]

    first = vectorize_facts(world.factory, embedder, store, requests)
    again = vectorize_facts(world.factory, embedder, store, requests)

    assert (first.embedded, first.gone, again.embedded, again.unchanged) == (2, 1, 0, 2)
    assert vectorized(world) == 2
    with world.factory() as session:
        assert vectors.facts_needing_vectors(session, world.tenant_id, 10) == []
