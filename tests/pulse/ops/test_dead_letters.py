"""Dead letters on real PostgreSQL and RabbitMQ: list, requeue to each kind of source, discard,
and the tenant boundary."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from dataflows.rabbitmq import EXTRACT_QUEUE, VECTORIZE_QUEUE, Topology
from pulse.messages import partition_for
from pulse.ops import DeadLetterError, DeadLetters
from storage import run_state
from storage.db import session_factory, transaction
from storage.repositories import jobs
from storage.schema import DeadLetter, JobRun, OutboxEntry, RawRecord, utcnow
from tests.pulse.jobs.env import JobRef, declare, job_row, make_job, take_requests

pytestmark = pytest.mark.integration


@pytest.fixture
def factory(pg_engine: Engine) -> sessionmaker[Session]:
    return session_factory(pg_engine)


@pytest.fixture
def url(rabbit_url: str) -> str:
    return declare(rabbit_url)


def _dead(factory: sessionmaker[Session], ref: JobRef | None, **values: object) -> int:
    with transaction(factory) as session:
        row = run_state.record_dead_letter(
            session,
            tenant_id=ref.tenant_id if ref else None,
            integration_id=ref.integration_id if ref else None,
            **{"stage": "transform", "message": "{}", "error": "boom", **values},  # type: ignore[arg-type]
        )
        return row.id


def _row(factory: sessionmaker[Session], dead_id: int) -> DeadLetter:
    with factory() as session:
        row = session.get(DeadLetter, dead_id)
        assert row is not None
        return row


def test_a_dead_extract_request_reopens_its_run_and_goes_back_to_the_queue(
    factory: sessionmaker[Session], url: str
) -> None:
    ref = make_job(factory)
    with transaction(factory) as session:
        run = jobs.start_run(session, ref.tenant_id, ref.job_id)
        assert run is not None
        run_id = run.id
        request = json.dumps(
            {
                "tenant_id": ref.tenant_id,
                "integration_id": ref.integration_id,
                "job_run_id": run_id,
                "schema_version": 1,
            }
        )
        dead = run_state.record_dead_letter(
            session,
            stage="extract",
            source_queue=EXTRACT_QUEUE,
            message=request,
            error="502 three times",
            tenant_id=ref.tenant_id,
            job_run_id=run_id,
            attempts=3,
        )
        run_state.fail_run(session, run_id, "502 three times", max_retries=3)
        dead_id = dead.id
    letters = DeadLetters(factory, rabbitmq_url=url, partitions=4)
    assert [d.id for d in letters.find(tenant_id=ref.tenant_id)] == [dead_id]

    done = letters.requeue(dead_id)

    assert f"run {run_id} reopened" in done
    [sent] = take_requests(url)
    assert sent.job_run_id == run_id
    with factory() as session:
        reopened = session.get(JobRun, run_id)
        assert reopened is not None
        assert (reopened.state, reopened.finished_at) == ("queued", None)
    assert job_row(factory, ref.job_id).state == "running"
    row = _row(factory, dead_id)
    assert row.status == "requeued"
    assert row.resolved_at is not None
    assert letters.find(tenant_id=ref.tenant_id) == []
    with pytest.raises(DeadLetterError, match="not open"):
        letters.requeue(dead_id)


def test_a_dead_extract_request_of_a_job_that_moved_on_is_refused(
    factory: sessionmaker[Session], url: str
) -> None:
    ref = make_job(factory)
    with transaction(factory) as session:
        old = jobs.start_run(session, ref.tenant_id, ref.job_id)
        assert old is not None
        run_state.fail_run(session, old.id, "boom", max_retries=3)
        newer = jobs.start_run(session, ref.tenant_id, ref.job_id)
        assert newer is not None
    dead_id = _dead(factory, ref, stage="extract", source_queue=EXTRACT_QUEUE, job_run_id=old.id)
    with pytest.raises(DeadLetterError, match="started another run since"):
        DeadLetters(factory, rabbitmq_url=url, partitions=4).requeue(dead_id)
    assert _row(factory, dead_id).status == "open"
    assert take_requests(url) == []


def test_dead_vectorize_and_load_messages_are_republished_where_they_came_from(
    factory: sessionmaker[Session],
) -> None:
    sent: list[tuple[str, str, bytes]] = []
    ref = make_job(factory)
    vectorize = _dead(
        factory,
        ref,
        stage="vectorize",
        source_queue=VECTORIZE_QUEUE,
        message='{"entity": "work_item", "external_ids": ["1"]}',
    )
    load_message = json.dumps({"tenant_id": ref.tenant_id, "outputs": [], "raw_ids": [5]})
    load = _dead(factory, ref, stage="load", source_queue="etl.load", message=load_message)
    letters = DeadLetters(
        factory,
        rabbitmq_url=None,
        partitions=16,
        publish=lambda exchange, key, body: sent.append((exchange, key, body)),
    )
    letters.requeue(vectorize)
    assert "etl.load." in letters.requeue(load)
    partition = partition_for(ref.tenant_id, 16)
    assert sent == [
        ("", VECTORIZE_QUEUE, b'{"entity": "work_item", "external_ids": ["1"]}'),
        (Topology.exchange("load"), str(partition), load_message.encode()),
    ]


def test_a_record_the_transform_refused_goes_back_through_the_outbox(
    factory: sessionmaker[Session],
) -> None:
    ref = make_job(factory)
    with transaction(factory) as session:
        raw = RawRecord(
            tenant_id=ref.tenant_id,
            integration_id=ref.integration_id,
            entity="jira.issue",
            external_id="10001",
            version="1",
            content_hash="h",
            payload={},
            processed_at=utcnow(),  # dead-lettered records count as processed
        )
        session.add(raw)
        session.flush()
        raw_id = raw.id
    dead_id = _dead(
        factory,
        ref,
        source_queue="etl.raw",
        message=json.dumps({"raw_id": raw_id, "external_id": "10001"}),
    )
    letters = DeadLetters(factory, rabbitmq_url=None, partitions=8)
    assert f"raw record {raw_id} queued" in letters.requeue(dead_id)
    with factory() as session:
        again = session.get(RawRecord, raw_id)
        assert again is not None
        assert again.processed_at is None
        outbox = session.scalars(select(OutboxEntry).where(OutboxEntry.raw_id == raw_id)).one()
    assert outbox.partition == partition_for(ref.tenant_id, 8)
    assert outbox.published_at is None

    poison = _dead(factory, ref, source_queue="etl.raw.3", message="{not json")
    with pytest.raises(DeadLetterError, match="holds no raw record"):
        letters.requeue(poison)


def test_discard_and_the_tenant_boundary(factory: sessionmaker[Session]) -> None:
    ours, theirs = make_job(factory, "Ours"), make_job(factory, "Theirs")
    mine = _dead(factory, ours, source_queue="somewhere.else")
    other = _dead(factory, theirs)
    letters = DeadLetters(factory, rabbitmq_url=None, partitions=4)
    with pytest.raises(DeadLetterError, match="cannot be requeued; discard it"):
        letters.requeue(mine)
    with pytest.raises(DeadLetterError, match="not open"):
        letters.discard(other, tenant_id=ours.tenant_id)  # another tenant's: not found
    letters.discard(mine, tenant_id=ours.tenant_id)
    assert _row(factory, mine).status == "discarded"
    assert [d.id for d in letters.find(tenant_id=ours.tenant_id, status=None)] == [mine]
    assert [d.id for d in letters.find()] == [other]  # operators see every tenant's open ones
