"""Shared set-up of the jobs tests: tenants with jobs, the broker topology, workers in threads,
and a stand-in for the later stages that writes their rows directly."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pika
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from connectors.extract.worker import ExtractRequest, ExtractWorker
from dataflows.rabbitmq import EXTRACT_QUEUE, ConfirmedPublisher, Topology
from pulse.jobs import ExtractDispatcher, JobService, ProgressEmitter, Scheduler, SchedulerConfig
from pulse.ops import Metrics
from storage.db import session_factory, transaction
from storage.repositories import integrations, jobs, tenants
from storage.schema import Job, JobRun, RawRecord, VectorPoint, WorkItem, utcnow
from tests.connectors.extract.env import CIPHER, runner

TOPOLOGY = Topology(partitions=4, max_deliveries=3)


@dataclass(frozen=True, slots=True)
class JobRef:
    tenant_id: int
    integration_id: int
    job_id: int


def make_job(factory: sessionmaker[Session], name: str = "Acme", **job_values: Any) -> JobRef:
    """A tenant with one Jira integration (pointing nowhere) and its job."""
    with transaction(factory) as session:
        tenant = tenants.create_tenant(session, name)
        integration = integrations.create_integration(
            session,
            tenant.id,
            name="Jira",
            provider="jira",
            base_url="https://unused.example",
            credentials={"email": "bot@example.com", "api_token": "t"},
            settings={"projects": ["PROJ"]},
            cipher=CIPHER,
        )
        job = jobs.ensure_job(session, tenant.id, integration.id)
        for column, value in job_values.items():
            setattr(job, column, value)
        return JobRef(tenant.id, integration.id, job.id)


def declare(url: str) -> str:
    """The topology, with the extract queues emptied (the vhost is shared by a test run)."""
    with ConfirmedPublisher(url, name="test-setup") as publisher:
        TOPOLOGY.declare(publisher.channel)
        for queue in (EXTRACT_QUEUE, TOPOLOGY.dead_queue(EXTRACT_QUEUE)):
            publisher.channel.queue_purge(queue)
    return url


def queue_depth(url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def take_requests(url: str, queue: str = EXTRACT_QUEUE) -> list[ExtractRequest]:
    """Every request waiting in the queue (consumed and acked)."""
    taken: list[ExtractRequest] = []
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        while True:
            method, _properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return taken
            taken.append(ExtractRequest.from_json(body))
    finally:
        connection.close()


def service(engine: Engine, url: str | None, *, max_retries: int = 3) -> JobService:
    return JobService(
        session_factory(engine),
        ExtractDispatcher(url, name="test"),
        max_retries=max_retries,
        engine=engine,
    )


def scheduler(
    engine: Engine,
    url: str | None,
    *,
    progress: ProgressEmitter | None = None,
    metrics: Metrics | None = None,
    **config: Any,
) -> Scheduler:
    settings = {"tick": timedelta(milliseconds=100), "stall": timedelta(minutes=5), **config}
    return Scheduler(
        engine,
        session_factory(engine),
        ExtractDispatcher(url, name="test-scheduler"),
        SchedulerConfig(**settings),
        progress=progress,
        metrics=metrics,
    )


def run_row(factory: sessionmaker[Session], run_id: int) -> JobRun:
    with factory() as session:
        run = session.get(JobRun, run_id)
        assert run is not None
        return run


def job_row(factory: sessionmaker[Session], job_id: int) -> Job:
    with factory() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


@contextmanager
def running(target: Callable[[threading.Event], None]) -> Iterator[threading.Event]:
    """Run `target(stop)` in a thread for the duration of the block."""
    stop = threading.Event()
    thread = threading.Thread(target=target, args=(stop,), daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "the background loop did not stop"


@contextmanager
def extract_worker(engine: Engine, url: str, **runner_kw: Any) -> Iterator[ExtractWorker]:
    worker = ExtractWorker(
        engine,
        session_factory(engine),
        runner(engine, partitions=TOPOLOGY.partitions, **runner_kw),
        rabbitmq_url=url,
        topology=TOPOLOGY,
        max_retries=3,
    )
    thread = threading.Thread(target=worker.serve, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(60)
        assert not thread.is_alive(), "the extract worker did not stop"


def process_raw_records(factory: sessionmaker[Session], stop: threading.Event) -> None:
    """Stands in for transform + load: marks every raw record processed shortly after it is
    stored (no facts are written, so no vectors are due)."""
    while not stop.wait(0.1):
        with transaction(factory) as session:
            session.execute(
                update(RawRecord)
                .where(RawRecord.processed_at.is_(None))
                .values(processed_at=utcnow())
            )


def raw_count(factory: sessionmaker[Session], run_id: int) -> int:
    with factory() as session:
        return len(
            session.scalars(select(RawRecord.id).where(RawRecord.job_run_id == run_id)).all()
        )


class Stages:
    """Writes the rows the later stages would write for one run, one step at a time."""

    def __init__(self, factory: sessionmaker[Session], ref: JobRef, run_id: int) -> None:
        self.factory, self.ref, self.run_id = factory, ref, run_id

    def extracted(self, count: int) -> list[int]:
        """`count` raw issues of the run, and the extract finished (stage transform)."""
        with transaction(self.factory) as session:
            rows = [
                RawRecord(
                    tenant_id=self.ref.tenant_id,
                    integration_id=self.ref.integration_id,
                    job_run_id=self.run_id,
                    entity="jira.issue",
                    external_id=str(1000 + n),
                    version="1",
                    content_hash=f"raw-{n}",
                    payload={"n": n},
                )
                for n in range(count)
            ]
            session.add_all(rows)
            session.flush()
            session.execute(
                update(JobRun)
                .where(JobRun.id == self.run_id)
                .values(state="running", stage="transform", extracted=count, started_at=utcnow())
            )
            return [row.id for row in rows]

    def loaded(self, raw_ids: list[int], *, content: str = "v1") -> None:
        """The load stage's commit: facts for these raw records, which become processed."""
        with transaction(self.factory) as session:
            for raw_id in raw_ids:
                raw = session.get(RawRecord, raw_id)
                assert raw is not None
                session.add(
                    WorkItem(
                        tenant_id=self.ref.tenant_id,
                        integration_id=self.ref.integration_id,
                        external_id=raw.external_id,
                        key=f"PROJ-{raw.external_id}",
                        summary="An item",
                        source_type="Story",
                        type_mapped=True,
                        source_status="Open",
                        status_mapped=True,
                        version=1,
                        source_updated_at=utcnow(),
                        last_job_run_id=self.run_id,
                        content_hash=f"{content}-{raw.external_id}",
                    )
                )
                raw.processed_at = utcnow()

    def embedded(self, external_ids: list[str], *, content: str = "v1") -> None:
        """The vectorize stage's commit: a vector_points row per fact, for `content`."""
        with transaction(self.factory) as session:
            session.execute(
                delete(VectorPoint).where(
                    VectorPoint.tenant_id == self.ref.tenant_id,
                    VectorPoint.record_external_id.in_(external_ids),
                )
            )
            for external_id in external_ids:
                session.add(
                    VectorPoint(
                        tenant_id=self.ref.tenant_id,
                        integration_id=self.ref.integration_id,
                        entity="work_item",
                        record_external_id=external_id,
                        point_id=str(uuid.uuid4()),
                        collection="work_items",
                        content_hash=f"{content}-{external_id}",
                        model="test-model",
                    )
                )
