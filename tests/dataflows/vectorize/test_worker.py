"""The vectorize worker through the real RabbitMQ: batches of requests are embedded and acked,
a failing embedding endpoint is retried up to the delivery limit and dead-lettered without a
vector, a malformed message lands in dead_letters, and stop() ends the worker cleanly."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pika
import pytest
from sqlalchemy import select

from dataflows.rabbitmq import VECTORIZE_QUEUE, ConfirmedPublisher, Topology
from dataflows.vectorize import LocalEmbedder, QdrantStore, TenantEmbedders, VectorizeWorker
from dataflows.vectorize.store import collection_name
from storage.db import transaction
from storage.repositories import integrations
from storage.schema import DeadLetter
from tests.storage.loader.world import CIPHER, World

from .facts import add_work_item, vector_rows, vectorized, work_item_request

pytestmark = pytest.mark.integration

MAX_DELIVERIES = 3
TOPOLOGY = Topology(partitions=1, max_deliveries=MAX_DELIVERIES)
DEAD_QUEUE = Topology.dead_queue(VECTORIZE_QUEUE)


def _depth(url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()


@pytest.fixture
def queues(rabbit_url: str) -> str:
    """The topology declared, and the vectorize queues empty."""
    connection = pika.BlockingConnection(pika.URLParameters(rabbit_url))
    try:
        channel = connection.channel()
        TOPOLOGY.declare(channel)
        channel.queue_purge(VECTORIZE_QUEUE)
        channel.queue_purge(DEAD_QUEUE)
    finally:
        connection.close()
    return rabbit_url


def _publish(url: str, *bodies: bytes) -> None:
    with ConfirmedPublisher(url, name="test-load") as publisher:
        for body in bodies:
            publisher.publish("", VECTORIZE_QUEUE, body)


def _serve_until(worker: VectorizeWorker, done: Callable[[], bool], timeout: float = 90) -> None:
    """Run the worker in a thread until `done()`, then stop it the way SIGTERM does."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            worker.serve()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="vectorize-worker")
    thread.start()
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.05)
    worker.stop()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the worker did not stop within 10 s of stop()"
    if failure:
        raise failure[0]
    assert done(), f"not done after {timeout} s (settled {worker.settled})"


def _worker(world: World, store: QdrantStore, url: str, local: LocalEmbedder) -> VectorizeWorker:
    return VectorizeWorker(
        world.factory,
        TenantEmbedders(world.factory, CIPHER, local=local),
        store,
        rabbitmq_url=url,
        topology=TOPOLOGY,
        name="vectorize-test",
        prefetch=64,
        max_delay=0.2,
        retry_backoff=0.01,
    )


def _dead_letters(world: World) -> list[DeadLetter]:
    with world.factory() as session:
        return list(session.scalars(select(DeadLetter).order_by(DeadLetter.id)))


def test_requests_are_embedded_acked_and_a_malformed_one_is_dead_lettered(
    acme: World, globex: World, store: QdrantStore, queues: str, local_embedder: LocalEmbedder
) -> None:
    for world in (acme, globex):
        add_work_item(world, "1", "Login page rejects valid passwords")
        add_work_item(world, "2", "Quarterly marketing budget")
    _publish(
        queues,
        work_item_request(acme, "1", "2").to_json(),
        work_item_request(globex, "2").to_json(),
        b'{"kind": "vectorize", "schema_version": 1, "tenant_id": 1}',
        work_item_request(acme, "1").to_json(),  # a duplicate: nothing to do twice
    )
    worker = _worker(acme, store, queues, local_embedder)

    _serve_until(worker, lambda: worker.settled == 4)

    assert set(vector_rows(acme)) == {"1", "2"}
    assert set(vector_rows(globex)) == {"2"}
    assert worker.totals.embedded == 3
    assert vectorized(acme) == 2
    (dead,) = _dead_letters(acme)
    assert (dead.stage, dead.source_queue, dead.tenant_id) == ("vectorize", VECTORIZE_QUEUE, None)
    assert dead.error.startswith("not a vectorize request: entity must be one of")
    assert dead.message == '{"kind": "vectorize", "schema_version": 1, "tenant_id": 1}'
    assert _depth(queues, VECTORIZE_QUEUE) == 0
    assert _depth(queues, DEAD_QUEUE) == 0  # acked: dead_letters keeps it


class _Endpoint(BaseHTTPRequestHandler):
    """An OpenAI-compatible /embeddings that always fails in the way `server.answer` says."""

    server: Any

    def do_POST(self) -> None:
        texts = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["input"]
        self.server.hits += 1
        body: dict[str, Any]
        if self.server.answer == "500":
            status, body = 500, {"error": {"message": "model overloaded"}}
        else:  # vectors of dimension 2 where the integration says 3
            data = [{"index": n, "embedding": [0.5, 0.5]} for n, _ in enumerate(texts)]
            status, body = 200, {"data": data}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def endpoint(request: pytest.FixtureRequest) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    server.hits = 0  # type: ignore[attr-defined]
    server.answer = request.param  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.mark.parametrize(
    ("endpoint", "deliveries", "complaint"),
    [
        ("500", MAX_DELIVERIES, "HTTP 500"),  # retriable: every delivery tries again
        ("wrong-dimension", 1, "dimension 2 (expected 3)"),  # fatal: no point in retrying
    ],
    indirect=["endpoint"],
)
def test_a_failing_embedding_endpoint_is_retried_then_dead_lettered_without_a_vector(
    acme: World,
    globex: World,
    store: QdrantStore,
    queues: str,
    local_embedder: LocalEmbedder,
    endpoint: ThreadingHTTPServer,
    deliveries: int,
    complaint: str,
) -> None:
    host, port = endpoint.server_address[:2]
    with transaction(globex.factory) as session:
        integrations.create_integration(
            session,
            globex.tenant_id,
            name="Embeddings",
            provider="embedding",
            base_url=f"http://{host!s}:{port}/v1",
            credentials={"api_key": "sk-globex"},
            settings={"model": "broken-model", "dimension": 3},
            cipher=CIPHER,
        )
    add_work_item(globex, "1", "Login page rejects valid passwords")
    add_work_item(acme, "1", "Login page rejects valid passwords")
    _publish(
        queues,
        work_item_request(globex, "1").to_json(),
        work_item_request(acme, "1").to_json(),  # another tenant in the same batch
    )
    worker = _worker(acme, store, queues, local_embedder)

    _serve_until(worker, lambda: worker.settled == 1 + deliveries)

    assert endpoint.hits == deliveries  # type: ignore[attr-defined]
    (dead,) = _dead_letters(globex)
    assert (dead.stage, dead.tenant_id, dead.attempts) == (
        "vectorize",
        globex.tenant_id,
        deliveries,
    )
    assert complaint in dead.error
    assert "sk-globex" not in dead.error
    assert vector_rows(globex) == {}
    assert store.count(collection_name("broken-model", 3), tenant_id=globex.tenant_id) == 0
    assert set(vector_rows(acme)) == {"1"}  # the healthy tenant's request was not held up
    assert _depth(queues, VECTORIZE_QUEUE) == 0
    deadline = time.monotonic() + 5
    while _depth(queues, DEAD_QUEUE) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _depth(queues, DEAD_QUEUE) == 1
