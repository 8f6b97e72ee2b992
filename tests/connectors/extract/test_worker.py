"""The extract worker and the outbox relay on real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pika
import pytest
from sqlalchemy import Engine, select

from connectors.extract.relay import relay_once
from connectors.extract.service import StreamPublisher
from connectors.extract.worker import ExtractRequest, ExtractWorker
from connectors.http import HttpClient, RetryPolicy
from connectors.simulator import SimulatorServer, config_for
from dataflows.rabbitmq import EXTRACT_QUEUE, ConfirmedPublisher, Topology
from storage.db import session_factory
from storage.schema import DeadLetter, JobRun, OutboxEntry
from tests.connectors.extract.env import make_tenant, raw_ids, run_row, runner, start_run

pytestmark = pytest.mark.integration

TOPOLOGY = Topology(partitions=4, max_deliveries=3)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(config_for("issues=150,prs=30,repos=2,histories=80", seed=11)) as server:
        yield server


@pytest.fixture
def declared(rabbit_url: str) -> str:
    with ConfirmedPublisher(rabbit_url, name="test-setup") as publisher:
        TOPOLOGY.declare(publisher.channel)
        for queue in (EXTRACT_QUEUE, TOPOLOGY.dead_queue(EXTRACT_QUEUE), *TOPOLOGY.streams("raw")):
            if not queue.startswith("etl.raw."):
                publisher.channel.queue_purge(queue)
    return rabbit_url


def _request(url: str, request: ExtractRequest) -> None:
    with ConfirmedPublisher(url, name="test-scheduler") as publisher:
        publisher.publish("", EXTRACT_QUEUE, request.to_json())


def _queue_depth(url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def _serve(worker: ExtractWorker, requests: int) -> threading.Thread:
    thread = threading.Thread(target=worker.serve, kwargs={"max_requests": requests}, daemon=True)
    thread.start()
    return thread


def _worker(engine: Engine, url: str, **runner_kw: object) -> ExtractWorker:
    return ExtractWorker(
        engine,
        session_factory(engine),
        runner(engine, partitions=TOPOLOGY.partitions, **runner_kw),
        rabbitmq_url=url,
        topology=TOPOLOGY,
        max_retries=3,
    )


def test_worker_runs_a_request_and_acks_it(
    pg_engine: Engine, declared: str, sim: SimulatorServer
) -> None:
    factory = session_factory(pg_engine)
    tenant = make_tenant(factory, sim, "acme")
    run_id = start_run(factory, tenant.id, tenant.jira_id)
    _request(declared, ExtractRequest(tenant.id, tenant.jira_id, run_id))
    _serve(_worker(pg_engine, declared), 1).join(60)
    assert run_row(pg_engine, run_id).stage == "transform"
    assert raw_ids(pg_engine, tenant.jira_id, "jira.issue") == {
        i["id"] for i in sim.truth("jira", "acme")["issues"]
    }
    assert _queue_depth(declared, EXTRACT_QUEUE) == 0  # acked


def test_failing_request_is_retried_then_dead_lettered(
    pg_engine: Engine, declared: str, sim: SimulatorServer
) -> None:
    factory = session_factory(pg_engine)
    tenant = make_tenant(factory, sim, "globex")
    run_id = start_run(factory, tenant.id, tenant.jira_id)
    sim.inject_fault("502", count=1000, site="globex")
    try:
        _request(declared, ExtractRequest(tenant.id, tenant.jira_id, run_id))
        worker = _worker(pg_engine, declared, streams={"http_hook": _fast_retries})
        _serve(worker, 3).join(120)
    finally:
        sim.clear_faults()
    assert worker.handled == 3  # three deliveries: two requeues, then dead
    with factory() as session:
        dead = session.scalars(select(DeadLetter)).all()
        run = session.get(JobRun, run_id)
    assert len(dead) == 1
    assert dead[0].attempts == 3
    assert dead[0].job_run_id == run_id
    assert "502" in dead[0].error
    assert run is not None
    assert run.state == "failed"
    assert "502" in (run.error or "")
    assert _queue_depth(declared, EXTRACT_QUEUE) == 0
    assert _queue_depth(declared, TOPOLOGY.dead_queue(EXTRACT_QUEUE)) == 1


def test_poison_request_is_dead_lettered_without_a_run(pg_engine: Engine, declared: str) -> None:
    with ConfirmedPublisher(declared, name="test") as publisher:
        publisher.publish("", EXTRACT_QUEUE, b"{not json")
    worker = _worker(pg_engine, declared)
    _serve(worker, 1).join(30)
    with session_factory(pg_engine)() as session:
        dead = session.scalars(select(DeadLetter)).one()
    assert dead.message == "{not json"
    assert "not an extract request" in dead.error
    assert _queue_depth(declared, TOPOLOGY.dead_queue(EXTRACT_QUEUE)) == 1


def test_relay_publishes_every_raw_record_once_to_its_partition(
    pg_engine: Engine, declared: str, sim: SimulatorServer
) -> None:
    factory = session_factory(pg_engine)
    tenant = make_tenant(factory, sim, "acme")
    run_id = start_run(factory, tenant.id, tenant.github_id)
    runner(pg_engine, partitions=TOPOLOGY.partitions).run(run_id)
    sink = StreamPublisher(declared, "test-relay")
    try:
        while relay_once(factory, sink, batch_size=25, limit=40):
            pass
    finally:
        sink.close()
    with factory() as session:
        pending = session.scalars(
            select(OutboxEntry).where(OutboxEntry.published_at.is_(None))
        ).all()
    assert pending == []

    from pulse.messages import RecordBatch, partition_for

    partition = partition_for(tenant.id, TOPOLOGY.partitions)
    stream = TOPOLOGY.stream("raw", partition)
    # The run's vhost is shared by the module's tests and streams cannot be purged: keep this
    # run's batches only.
    records = [
        b
        for b in _read_stream(declared, stream)
        if b.integration_id == tenant.github_id and b.job_run_id == run_id
    ]
    ids = [r["external_id"] for b in records for r in b.records]
    assert len(ids) == len(set(ids))
    assert set(ids) >= raw_ids(pg_engine, tenant.github_id, "github.pull_request")
    assert all(len(b.records) <= 25 and b.tenant_id == tenant.id for b in records)
    assert all(isinstance(b, RecordBatch) for b in records)


def _read_stream(url: str, stream: str) -> list:
    from pulse.messages import RecordBatch

    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=500)
    batches = []
    deadline = time.monotonic() + 10
    for method, _props, body in channel.consume(
        stream, arguments={"x-stream-offset": "first"}, inactivity_timeout=1.0
    ):
        if method is None:
            break
        channel.basic_ack(method.delivery_tag)
        batches.append(RecordBatch.from_json(body))
        if time.monotonic() > deadline:
            break
    channel.cancel()
    connection.close()
    return batches


def _fast_retries(http: HttpClient) -> None:
    # Retries inside the HTTP layer would sleep with backoff; the test wants the broker-level
    # retry path, so the client gives up at once.
    http.policy = RetryPolicy(max_retries=0, base_delay=0.0)


def test_request_bodies_round_trip() -> None:
    request = ExtractRequest(1, 2, 3)
    assert ExtractRequest.from_json(request.to_json()) == request
    assert json.loads(request.to_json())["schema_version"] == 1


def test_two_workers_never_run_one_job_run_twice(
    pg_engine: Engine, declared: str, sim: SimulatorServer
) -> None:
    factory = session_factory(pg_engine)
    tenant = make_tenant(factory, sim, "acme", jira_settings={"page_size": 10})
    run_id = start_run(factory, tenant.id, tenant.jira_id)
    request = ExtractRequest(tenant.id, tenant.jira_id, run_id)
    _request(declared, request)
    _request(declared, request)  # a double click, or two schedulers
    sim.reset_stats()
    first, second = _worker(pg_engine, declared), _worker(pg_engine, declared)
    threads = [_serve(first, 1), _serve(second, 1)]
    for thread in threads:
        thread.join(90)
    assert first.handled + second.handled == 2
    assert _queue_depth(declared, EXTRACT_QUEUE) == 0
    assert run_row(pg_engine, run_id).stage == "transform"
    issues = len(sim.truth("jira", "acme")["issues"])
    # Had both run it, every search page would have been fetched twice.
    assert sim.stats()["by_endpoint"]["jira.search_jql"] <= -(-issues // 10) + 1
