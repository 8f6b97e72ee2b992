"""The operations pages: queues (system figures, the tenant's dead letters with requeue and
discard) and Qdrant (coverage, collection health, re-embed, tenant-scoped semantic search)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pika
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from dataflows.rabbitmq import Topology
from dataflows.vectorize.backlog import sweep_tenant
from dataflows.vectorize.texts import fact_text
from storage.schema import DeadLetter, OutboxEntry, PullRequest, WorkItem
from tests.web.conftest import BASE_URL, HX, ORIGIN, ClientFactory, World, make_settings, sign_in
from web import WebConfig, create_app

pytestmark = pytest.mark.integration


class WordEmbedder:
    """Deterministic bag-of-words vectors: texts sharing words are near each other."""

    model = "test-words"
    dimension = 32

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            vector = [0.0] * self.dimension
            for word in text.lower().split():
                vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % self.dimension] += 1
            vector[0] += 0.01  # never the zero vector
            norm = math.sqrt(sum(v * v for v in vector))
            vectors.append([v / norm for v in vector])
        return vectors


def _hash_facts(engine: Engine) -> None:
    """Give the facts the content hash the load stage would have written (the vectorize stage
    refuses to embed a fact whose text does not match its hash)."""
    with Session(engine) as session, session.begin():
        for entity, model in (("work_item", WorkItem), ("pull_request", PullRequest)):
            table: Any = model.__table__
            for row in session.execute(select(table)).mappings():
                text = fact_text(row["tenant_id"], entity, dict(row))
                session.execute(
                    update(table)
                    .where(table.c.id == row["id"])
                    .values(content_hash=text.content_hash)
                )


@pytest.fixture
def vector_app(pg_engine: Engine, tmp_path: Path):
    settings = make_settings(pg_engine.url.render_as_string(hide_password=False), tmp_path)
    return create_app(
        settings,
        engine=pg_engine,
        config=WebConfig(),
        progress_consumer=False,
        embedder=WordEmbedder(),
    )


def test_queues_page_in_embedded_mode(world: World, admin, client_factory: ClientFactory) -> None:
    page = admin.get("/queues")
    assert page.status_code == 200
    assert "Embedded mode" in page.text
    assert [d.id for d in page.context["letters"]] == [world.a.ids["dead_letter_id"]]
    assert "bad field in ALPHA" in page.text
    assert "BRAVO" not in page.text
    for role in ("user", "viewer"):
        assert client_factory(world.a.users[role]).get("/queues").status_code == 403


def test_dead_letters_requeue_and_discard(world: World, admin, pg_engine: Engine) -> None:
    letter = world.a.ids["dead_letter_id"]
    requeued = admin.post(f"/queues/dead-letters/{letter}/requeue", headers=HX)
    assert requeued.status_code == 200, requeued.text
    assert "queued for transform and load again" in requeued.headers["HX-Trigger"]
    assert "<h1>" not in requeued.text
    with Session(pg_engine) as session:
        row = session.get(DeadLetter, letter)
        assert row is not None
        assert row.status == "requeued"
        assert session.scalar(
            select(OutboxEntry.raw_id).where(OutboxEntry.raw_id == world.a.ids["raw_id"])
        )
    again = admin.post(f"/queues/dead-letters/{letter}/discard", headers=HX)
    assert again.status_code == 409
    assert "not open" in again.text
    resolved = admin.get("/queues?status=requeued", headers={**HX, "HX-Target": "dead_letters"})
    assert [d.id for d in resolved.context["letters"]] == [letter]


def test_queue_figures_from_rabbitmq(
    world: World, pg_engine: Engine, rabbit_url: str, tmp_path: Path
) -> None:
    topology = Topology(partitions=2, max_deliveries=3)
    connection = pika.BlockingConnection(pika.URLParameters(rabbit_url))
    try:
        channel = connection.channel()
        topology.declare(channel)
        channel.basic_publish("", "etl.extract", b"{}")
    finally:
        connection.close()
    settings = make_settings(
        pg_engine.url.render_as_string(hide_password=False),
        tmp_path,
        rabbitmq_url=rabbit_url,
        etl_partitions=2,
    )
    app = create_app(settings, engine=pg_engine, config=WebConfig(), progress_consumer=False)
    client: Any
    with TestClient(app, base_url=BASE_URL, headers=ORIGIN) as client:
        sign_in(app, client, world.a.users["admin"])
        page = client.get("/queues", headers={**HX, "HX-Target": "queue_table"})
        assert page.status_code == 200
        assert page.context["problem"] is None
        stats = {q.name: q for q in page.context["stats"]}
        assert stats["etl.extract"].messages == 1
        assert stats["etl.raw.1"].kind == "stream"
        assert "etl.dead.extract" in stats
        assert 'hx-trigger="every 5s"' not in page.text  # the fragment, not the poller


def test_qdrant_coverage_search_and_reembed(vector_app, world: World, pg_engine: Engine) -> None:
    _hash_facts(pg_engine)
    client: Any
    with TestClient(vector_app, base_url=BASE_URL, headers=ORIGIN) as client:
        sign_in(vector_app, client, world.a.users["admin"])
        empty = client.get("/qdrant")
        assert empty.status_code == 200
        before = {c.entity: c for c in empty.context["coverage"]}
        assert before["work_item"].facts == 3
        assert before["work_item"].qdrant_points == 0
        started = client.post("/qdrant/reembed", headers=HX)
        assert started.status_code == 204
        assert "Re-embedding started" in started.headers["HX-Trigger"]
        vector_app.state.web.vectors._sweeps[world.a.id].join(60)
        store = vector_app.state.web.vectors.store()
        sweep_tenant(vector_app.state.web.factory, WordEmbedder(), store, world.b.id)
        page = client.get("/qdrant")
        coverage = {c.entity: c for c in page.context["coverage"]}
        assert coverage["work_item"].current == 3
        assert coverage["work_item"].qdrant_points == 3
        assert coverage["pull_request"].qdrant_points == 1
        (collection,) = page.context["collections"]
        assert collection.dimension == 32
        assert collection.points == 8  # both tenants' points share the collection
        found = client.get(
            "/qdrant?q=Item+1+of+ALPHA", headers={**HX, "HX-Target": "search_results"}
        )
        assert found.status_code == 200
        hits = found.context["hits"]
        assert hits
        assert {h.key for h in hits} <= {"ALPH-1", "ALPH-2", "ALPH-3", "org-alpha/api#7"}
        assert "BRAVO" not in found.text
        assert f'href="/data/work-items/{world.a.ids["work_item_id"]}"' in found.text
        only_prs = client.get("/qdrant?q=fix&entity=pull_request", headers=HX)
        assert {h.entity for h in only_prs.context["hits"]} <= {"pull_request"}


def test_qdrant_page_for_a_viewer(vector_app, world: World) -> None:
    client: Any
    with TestClient(vector_app, base_url=BASE_URL, headers=ORIGIN) as client:
        sign_in(vector_app, client, world.a.users["viewer"])
        page = client.get("/qdrant")
        assert page.status_code == 200
        assert "Embed what is missing" not in page.text
        assert client.post("/qdrant/reembed", headers=HX).status_code == 403
