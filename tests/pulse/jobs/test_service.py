"""Job actions on real PostgreSQL and RabbitMQ: run now (also from two processes at once),
pause, resume, cancel and retry, and the reasons given when an action does not apply."""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from connectors.simulator import SimulatorServer, config_for
from pulse.jobs import JobActionError, JobNotFound, JobService
from storage import run_state
from storage.db import session_factory, transaction
from storage.schema import ExtractCheckpoint, Job, JobRun, RawRecord, utcnow
from tests.connectors.extract.env import make_tenant
from tests.pulse.jobs import racers
from tests.pulse.jobs.env import (
    extract_worker,
    job_row,
    make_job,
    queue_depth,
    run_row,
    take_requests,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(config_for("issues=400,projects=2,histories=40", seed=5)) as server:
        yield server


def test_two_processes_running_a_job_at_once_start_one_run(
    pg_engine: Engine, broker_url: str, make_service: Callable[..., JobService]
) -> None:
    factory = session_factory(pg_engine)
    ref = make_job(factory)
    rounds = 5
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(3)
    results: queue.Queue[tuple[int, str]] = spawn.Queue()  # type: ignore[assignment]
    database_url = pg_engine.url.render_as_string(hide_password=False)
    racers_ = [
        spawn.Process(
            target=racers.run_now,
            args=(database_url, broker_url, ref.tenant_id, ref.job_id, rounds, barrier, results),
        )
        for _ in range(2)
    ]
    for process in racers_:
        process.start()
    outcomes: list[list[str]] = []
    try:
        for _ in range(rounds):
            barrier.wait(timeout=60)  # go
            barrier.wait(timeout=60)  # both answered
            answers = [results.get(timeout=10)[1] for _ in range(2)]
            outcomes.append(sorted(answers))
            with transaction(factory) as session:  # the run ends; the job may start again
                job = session.get(Job, ref.job_id)
                assert job is not None
                assert job.last_run_id is not None
                run_state.succeed_run(session, job.last_run_id)
            barrier.wait(timeout=60)
    finally:
        for process in racers_:
            process.join(60)
    assert all(p.exitcode == 0 for p in racers_)
    for answers in outcomes:
        started = [a for a in answers if a.startswith("run ")]
        refused = [a for a in answers if a.startswith("refused")]
        assert len(started) == 1, answers
        assert len(refused) == 1, answers
        assert "running already" in refused[0]
    with factory() as session:
        runs = session.scalars(select(JobRun).where(JobRun.job_id == ref.job_id)).all()
    assert len(runs) == rounds
    requests = take_requests(broker_url)
    assert sorted(r.job_run_id for r in requests) == sorted(r.id for r in runs)


def test_run_now_queues_the_request_the_extract_worker_reads(
    pg_engine: Engine, broker_url: str, make_service: Callable[..., JobService]
) -> None:
    factory = session_factory(pg_engine)
    ref = make_job(factory)
    run = make_service(broker_url).run_now(ref.tenant_id, ref.job_id, kind="full")
    assert (run.state, run.kind, run.attempt) == ("queued", "full", 1)
    [request] = take_requests(broker_url)
    assert (request.tenant_id, request.integration_id, request.job_run_id) == (
        ref.tenant_id,
        ref.integration_id,
        run.id,
    )
    assert job_row(factory, ref.job_id).state == "running"


def test_refused_actions_say_why(
    pg_engine: Engine, broker_url: str, make_service: Callable[..., JobService]
) -> None:
    factory = session_factory(pg_engine)
    ref = make_job(factory)
    other = make_job(factory, "Globex")
    jobs = make_service(broker_url)
    run = jobs.run_now(ref.tenant_id, ref.job_id)
    with pytest.raises(JobActionError, match=f"running already \\(run {run.id}\\)"):
        jobs.run_now(ref.tenant_id, ref.job_id)
    with pytest.raises(JobActionError, match="not failed"):
        jobs.retry(ref.tenant_id, ref.job_id)
    with pytest.raises(JobActionError, match="not paused"):
        jobs.resume(ref.tenant_id, ref.job_id)
    jobs.pause(ref.tenant_id, ref.job_id)
    with pytest.raises(JobActionError, match="paused; resume it first"):
        jobs.run_now(ref.tenant_id, ref.job_id)
    with pytest.raises(JobActionError, match="paused already"):
        jobs.pause(ref.tenant_id, ref.job_id)
    # Another tenant's job or run is not found, exactly like a missing one.
    with pytest.raises(JobNotFound):
        jobs.run_now(other.tenant_id, ref.job_id)
    with pytest.raises(JobNotFound):
        jobs.cancel(other.tenant_id, run.id)
    assert run_row(factory, run.id).state == "paused"


def test_a_request_that_cannot_be_sent_fails_the_run_with_the_reason(
    pg_engine: Engine, make_service: Callable[..., JobService]
) -> None:
    factory = session_factory(pg_engine)
    ref = make_job(factory)
    unreachable = "amqp://guest:guest@127.0.0.1:1/nowhere"
    with pytest.raises(Exception, match="could not queue run"):
        make_service(unreachable).run_now(ref.tenant_id, ref.job_id)
    with factory() as session:
        run = session.scalars(select(JobRun)).one()
    assert run.state == "failed"
    assert "cannot connect to RabbitMQ" in (run.error or "")
    job = job_row(factory, ref.job_id)
    assert job.state == "ready"  # retried per the policy
    assert job.consecutive_failures == 1


def test_pause_keeps_a_queued_run_and_resume_sends_it_again(
    pg_engine: Engine, broker_url: str, make_service: Callable[..., JobService]
) -> None:
    factory = session_factory(pg_engine)
    ref = make_job(factory)
    jobs = make_service(broker_url)
    run = jobs.run_now(ref.tenant_id, ref.job_id)
    jobs.pause(ref.tenant_id, ref.job_id)
    assert run_row(factory, run.id).state == "paused"
    assert job_row(factory, ref.job_id).state == "paused"
    outcome = jobs.resume(ref.tenant_id, ref.job_id)
    assert outcome.requeued is not None
    assert outcome.requeued.run_id == run.id
    assert run_row(factory, run.id).state == "queued"
    assert job_row(factory, ref.job_id).state == "running"
    assert [r.job_run_id for r in take_requests(broker_url)] == [run.id, run.id]


def test_pausing_a_job_whose_run_is_past_extract_lets_the_run_finish(
    pg_engine: Engine, broker_url: str, make_service: Callable[..., JobService]
) -> None:
    factory = session_factory(pg_engine)
    ref = make_job(factory)
    jobs = make_service(broker_url)
    run = jobs.run_now(ref.tenant_id, ref.job_id)
    _move(factory, run.id, state="running", stage="load")
    jobs.pause(ref.tenant_id, ref.job_id)
    assert run_row(factory, run.id).state == "running"
    with transaction(factory) as session:
        run_state.succeed_run(session, run.id)
    assert job_row(factory, ref.job_id).state == "paused"  # not scheduled until resumed
    assert jobs.resume(ref.tenant_id, ref.job_id).state == "ready"


def test_cancel_of_a_run_no_worker_holds_is_immediate(
    pg_engine: Engine, broker_url: str, make_service: Callable[..., JobService]
) -> None:
    factory = session_factory(pg_engine)
    ref = make_job(factory, schedule_interval_seconds=600)
    jobs = make_service(broker_url)
    queued = jobs.run_now(ref.tenant_id, ref.job_id)
    assert jobs.cancel(ref.tenant_id, queued.id).cancelled
    assert run_row(factory, queued.id).state == "cancelled"
    job = job_row(factory, ref.job_id)
    assert job.state == "ready"
    assert job.next_run_at is not None
    assert job.next_run_at > utcnow() + timedelta(seconds=500)
    with pytest.raises(JobActionError, match="cancelled already"):
        jobs.cancel(ref.tenant_id, queued.id)

    with transaction(factory) as session:
        session.execute(update(Job).where(Job.id == ref.job_id).values(next_run_at=utcnow()))
    loading = jobs.run_now(ref.tenant_id, ref.job_id)
    _move(factory, loading.id, state="running", stage="load")
    started = time.monotonic()
    assert jobs.cancel_job(ref.tenant_id, ref.job_id).cancelled
    assert time.monotonic() - started < 5
    with factory() as session:
        # The dataflows drop the records of this run from now on.
        assert run_state.cancelled_runs(session, {loading.id, queued.id}) == {
            loading.id,
            queued.id,
        }
    # An extracting run whose worker is gone (nobody holds its lock) is cancelled at once too.
    with transaction(factory) as session:
        session.execute(update(Job).where(Job.id == ref.job_id).values(next_run_at=utcnow()))
    orphan = jobs.run_now(ref.tenant_id, ref.job_id)
    _move(factory, orphan.id, state="running", stage="extract")
    assert jobs.cancel(ref.tenant_id, orphan.id).cancelled


def test_cancel_during_extract_stops_within_5_seconds(
    pg_engine: Engine,
    broker_url: str,
    sim: SimulatorServer,
    make_service: Callable[..., JobService],
) -> None:
    factory = session_factory(pg_engine)
    tenant = make_tenant(factory, sim, "acme")
    with factory() as session:
        job = session.scalars(select(Job).where(Job.integration_id == tenant.jira_id)).one()
    jobs = make_service(broker_url)
    sim.inject_fault("slow", count=10_000, site="acme", match="jira.search_jql", delay=0.3)
    try:
        with extract_worker(pg_engine, broker_url) as worker:
            run = jobs.run_now(tenant.id, job.id)
            wait_for(lambda: run_row(factory, run.id).extracted > 0, 60, "a first page")
            outcome = jobs.cancel(tenant.id, run.id)
            assert not outcome.cancelled  # the worker holds the run: it stops between pages
            asked = time.monotonic()
            wait_for(lambda: run_row(factory, run.id).state == "cancelled", 5, "the cancel")
            assert time.monotonic() - asked < 5
            extracted = run_row(factory, run.id).extracted
            wait_for(lambda: worker.handled == 1, 10, "the worker to let the run go")
            time.sleep(0.5)
            assert queue_depth(broker_url, "etl.extract") == 0
    finally:
        sim.clear_faults()
    assert run_row(factory, run.id).extracted == extracted  # no page after the cancel
    assert job_row(factory, job.id).state == "ready"


def test_pause_during_extract_keeps_the_checkpoint_and_resume_continues_from_it(
    pg_engine: Engine,
    broker_url: str,
    sim: SimulatorServer,
    make_service: Callable[..., JobService],
) -> None:
    factory = session_factory(pg_engine)
    tenant = make_tenant(factory, sim, "globex")
    with factory() as session:
        job = session.scalars(select(Job).where(Job.integration_id == tenant.jira_id)).one()
    jobs = make_service(broker_url)
    sim.inject_fault("slow", count=10_000, site="globex", match="jira.search_jql", delay=0.2)
    try:
        with extract_worker(pg_engine, broker_url) as worker:
            run = jobs.run_now(tenant.id, job.id)
            wait_for(lambda: _issues(factory, run.id), 60, "a first page of issues")
            jobs.pause(tenant.id, job.id)
            wait_for(lambda: worker.handled == 1, 10, "the worker to let the run go")
            time.sleep(0.5)
            paused = run_row(factory, run.id)
            assert paused.state == "paused"
            assert paused.stage == "extract"
            with factory() as session:
                cursors = session.scalars(
                    select(ExtractCheckpoint).where(ExtractCheckpoint.job_run_id == run.id)
                ).all()
            assert any(c.cursor is not None and not c.finished for c in cursors)
            sim.clear_faults()
            assert jobs.resume(tenant.id, job.id).requeued is not None
            wait_for(lambda: run_row(factory, run.id).stage == "transform", 120, "the extract")
    finally:
        sim.clear_faults()
    truth = {i["id"] for i in sim.truth("jira", "globex")["issues"]}
    assert sorted(_issues(factory, run.id)) == sorted(truth)  # once each: none re-fetched or lost
    assert run_row(factory, run.id).state == "running"


def test_retry_starts_a_failed_job_with_a_fresh_budget(
    pg_engine: Engine, broker_url: str, make_service: Callable[..., JobService]
) -> None:
    factory = session_factory(pg_engine)
    ref = make_job(factory)
    jobs = make_service(broker_url, max_retries=0)
    first = jobs.run_now(ref.tenant_id, ref.job_id)
    with transaction(factory) as session:
        run_state.fail_run(session, first.id, "boom", max_retries=0)
    job = job_row(factory, ref.job_id)
    assert (job.state, job.last_error, job.consecutive_failures) == ("failed", "boom", 1)
    second = jobs.retry(ref.tenant_id, ref.job_id)
    assert second.id != first.id
    assert job_row(factory, ref.job_id).consecutive_failures == 0


def _move(factory: sessionmaker[Session], run_id: int, **values: object) -> None:
    with transaction(factory) as session:
        session.execute(update(JobRun).where(JobRun.id == run_id).values(**values))


def _issues(factory: sessionmaker[Session], run_id: int) -> list[str]:
    with factory() as session:
        return list(
            session.scalars(
                select(RawRecord.external_id).where(
                    RawRecord.job_run_id == run_id, RawRecord.entity == "jira.issue"
                )
            )
        )
