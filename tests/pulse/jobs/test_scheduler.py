"""The scheduler on real PostgreSQL and RabbitMQ: due jobs start once even with two
schedulers, rate-limited runs resume by themselves, failing jobs retry then fail with their
error, the watchdog names the stalled stage, and a run finishes only when its last vector is
written."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from connectors.http import HttpClient
from connectors.simulator import SimulatorServer, config_for
from pulse.jobs import JobService, Scheduler
from pulse.ops import Metrics
from storage.db import session_factory, transaction
from storage.schema import Job, JobRun, RawRecord, WorkItem, utcnow
from tests.connectors.extract.env import make_tenant
from tests.pulse.jobs import env
from tests.pulse.jobs.env import (
    Stages,
    extract_worker,
    job_row,
    make_job,
    running,
    take_requests,
    wait_for,
)

pytestmark = pytest.mark.integration


def _set(
    factory: sessionmaker[Session], model: type[Job] | type[JobRun], id_: int, **values: object
) -> None:
    with transaction(factory) as session:
        session.execute(update(model).where(model.id == id_).values(**values))


def _last_run(factory: sessionmaker[Session], job_id: int) -> int:
    run_id = job_row(factory, job_id).last_run_id
    assert run_id is not None
    return run_id


def _runs(factory: sessionmaker[Session], job_id: int) -> list[JobRun]:
    with factory() as session:
        return list(
            session.scalars(select(JobRun).where(JobRun.job_id == job_id).order_by(JobRun.id))
        )


def test_two_schedulers_start_each_due_job_once(
    pg_engine: Engine, broker_url: str, make_scheduler: Callable[..., Scheduler]
) -> None:
    factory = session_factory(pg_engine)
    refs = [make_job(factory, f"Tenant {n}") for n in range(12)]
    schedulers = [make_scheduler(broker_url), make_scheduler(broker_url)]
    leaders: list[bool] = []
    start = threading.Barrier(2)

    def tick(scheduler: Scheduler) -> None:
        start.wait(10)
        for _ in range(5):
            report = scheduler.tick()
            leaders.append(report.leader)

    threads = [threading.Thread(target=tick, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for ref in refs:
        assert len(_runs(factory, ref.job_id)) == 1
        assert job_row(factory, ref.job_id).state == "running"
    requests = take_requests(broker_url)
    assert len(requests) == 12
    assert len({r.job_run_id for r in requests}) == 12
    assert leaders.count(True) == 5  # one scheduler leads the maintenance pass, the other waits


def test_reconcile_runs_start_when_their_time_has_come(
    pg_engine: Engine, broker_url: str, make_scheduler: Callable[..., Scheduler]
) -> None:
    factory = session_factory(pg_engine)
    first = make_job(factory, "First", reconcile_interval_seconds=3600)
    due = make_job(factory, "Due", next_reconcile_at=utcnow() - timedelta(seconds=1))
    before = utcnow()
    make_scheduler(broker_url).tick()
    [run] = _runs(factory, first.job_id)
    assert run.kind == "incremental"  # the first run backfills anyway
    reconcile_at = job_row(factory, first.job_id).next_reconcile_at
    assert reconcile_at is not None
    assert reconcile_at >= before + timedelta(seconds=3600)
    assert [r.kind for r in _runs(factory, due.job_id)] == ["reconcile"]
    next_reconcile = job_row(factory, due.job_id).next_reconcile_at
    assert next_reconcile is not None
    assert next_reconcile > utcnow()


@pytest.fixture
def limited_sim() -> Iterator[SimulatorServer]:
    config = config_for(
        "issues=200,projects=2,histories=20",
        sites=("acme",),
        # A budget a slow (loaded) machine still exhausts: the run must hit the limit.
        rate_limit=5,
        rate_window_seconds=3.0,
    )
    with SimulatorServer(config) as server:
        yield server


def _park_long_waits(http: HttpClient) -> None:
    http.policy = replace(http.policy, wait_threshold=0.2)


def test_a_rate_limited_run_resumes_by_itself(
    pg_engine: Engine,
    broker_url: str,
    limited_sim: SimulatorServer,
    make_service: Callable[..., JobService],
    make_scheduler: Callable[..., Scheduler],
) -> None:
    factory = session_factory(pg_engine)
    tenant = make_tenant(factory, limited_sim, "acme")
    with factory() as session:
        job = session.scalars(select(Job).where(Job.integration_id == tenant.jira_id)).one()
    run = make_service(broker_url).run_now(tenant.id, job.id)
    states: list[tuple[str, str | None]] = []

    def watch() -> bool:
        with factory() as session:
            row = session.get(JobRun, run.id)
            assert row is not None
            states.append((row.state, row.stage))
            return row.stage == "transform"

    scheduler = make_scheduler(broker_url)
    with (
        extract_worker(pg_engine, broker_url, streams={"http_hook": _park_long_waits}),
        running(scheduler.serve),
    ):
        wait_for(watch, 120, "the extract to finish", every=0.02)
    assert ("rate_limited", "extract") in states  # it waited for the budget...
    assert all(state != "failed" for state, _ in states)  # ...without ever failing
    with factory() as session:
        issues = session.scalars(
            select(RawRecord.external_id).where(
                RawRecord.job_run_id == run.id, RawRecord.entity == "jira.issue"
            )
        ).all()
    assert sorted(issues) == sorted(i["id"] for i in limited_sim.truth("jira", "acme")["issues"])


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(config_for("issues=20,projects=1", seed=3, sites=("acme",))) as server:
        yield server


def test_a_failing_job_retries_then_fails_with_its_error(
    pg_engine: Engine,
    broker_url: str,
    sim: SimulatorServer,
    make_scheduler: Callable[..., Scheduler],
) -> None:
    factory = session_factory(pg_engine)
    tenant = make_tenant(factory, sim, "acme")
    with transaction(factory) as session:
        job = session.scalars(select(Job).where(Job.integration_id == tenant.jira_id)).one()
        job.retry_interval_seconds = 1
        job_id = job.id
        session.execute(  # only the Jira job runs in this test
            update(Job).where(Job.integration_id == tenant.github_id).values(enabled=False)
        )
    sim.inject_fault("401", count=1000, site="acme")
    scheduler = make_scheduler(broker_url)
    try:
        with extract_worker(pg_engine, broker_url), running(scheduler.serve):
            wait_for(lambda: job_row(factory, job_id).state == "failed", 60, "the job to fail")
            time.sleep(1.5)  # more ticks: a failed job is not retried any more
    finally:
        sim.clear_faults()
    runs = _runs(factory, job_id)
    assert [r.state for r in runs] == ["failed"] * 4  # the first run and ETL_MAX_RETRIES=3 retries
    assert [r.attempt for r in runs] == [1, 2, 3, 4]
    for earlier, later in itertools.pairwise(runs):
        assert earlier.finished_at is not None
        assert later.created_at - earlier.finished_at >= timedelta(seconds=1)  # retry interval
    job = job_row(factory, job_id)
    assert job.last_error == runs[-1].error
    assert "401" in (job.last_error or "")
    assert job.next_run_at is None


def test_the_watchdog_fails_stalled_runs_naming_the_stage(
    pg_engine: Engine, broker_url: str, make_scheduler: Callable[..., Scheduler]
) -> None:
    factory = session_factory(pg_engine)
    refs = {
        name: make_job(factory, name, retry_interval_seconds=60)
        for name in ("queued", "extract", "load", "limited", "fresh")
    }
    scheduler = make_scheduler(broker_url, stall=timedelta(seconds=2))
    scheduler.tick()  # starts a run of each
    take_requests(broker_url)
    long_ago = utcnow() - timedelta(seconds=30)
    run_of = {name: _last_run(factory, ref.job_id) for name, ref in refs.items()}
    _set(factory, JobRun, run_of["queued"], heartbeat_at=long_ago)
    _set(
        factory, JobRun, run_of["extract"], state="running", stage="extract", heartbeat_at=long_ago
    )
    run_id = run_of["load"]
    assert run_id is not None
    Stages(factory, refs["load"], run_id).extracted(2)
    _set(factory, JobRun, run_id, heartbeat_at=long_ago)
    _set(
        factory,
        JobRun,
        run_of["limited"],
        state="rate_limited",
        stage="extract",
        rate_limited_until=utcnow() + timedelta(hours=1),
        heartbeat_at=long_ago,
    )
    _set(factory, JobRun, run_of["fresh"], state="running", stage="extract", heartbeat_at=utcnow())

    report = scheduler.tick()

    assert sorted(report.stalled) == sorted(run_of[n] for n in ("queued", "extract", "load"))
    with factory() as session:
        runs = {name: session.get(JobRun, run) for name, run in run_of.items()}
    errors = {name: run.error for name, run in runs.items() if run is not None}
    assert "stalled in the queue: no extract worker took it" in (errors["queued"] or "")
    assert "stalled in stage 'extract': no page committed" in (errors["extract"] or "")
    assert "stalled in stage 'transform'" in (errors["load"] or "")
    assert "2 of 2 raw records not yet transformed and loaded" in (errors["load"] or "")
    assert runs["limited"] is not None
    assert runs["limited"].state == "rate_limited"
    assert runs["fresh"] is not None
    assert runs["fresh"].state == "running"
    for name in ("queued", "extract", "load"):
        job = job_row(factory, refs[name].job_id)
        assert job.state == "ready"  # retried after its retry interval
        assert job.next_run_at is not None
        assert job.next_run_at > utcnow() + timedelta(seconds=50)


def test_a_run_finishes_only_after_its_last_vector(
    pg_engine: Engine, broker_url: str, make_scheduler: Callable[..., Scheduler]
) -> None:
    factory = session_factory(pg_engine)
    ref = make_job(factory, schedule_interval_seconds=3600)
    scheduler = make_scheduler(broker_url)
    scheduler.tick()
    run_id = job_row(factory, ref.job_id).last_run_id
    assert run_id is not None
    stages = Stages(factory, ref, run_id)

    def state() -> tuple[str, str | None, int, int, int]:
        scheduler.tick()
        with factory() as session:
            run = session.get(JobRun, run_id)
            assert run is not None
            return run.state, run.stage, run.transformed, run.loaded, run.vectorized

    raw = stages.extracted(3)
    assert state() == ("running", "transform", 0, 0, 0)
    stages.loaded(raw[:2])
    assert state() == ("running", "load", 2, 2, 0)
    stages.loaded(raw[2:])
    assert state() == ("running", "vectorize", 3, 3, 0)
    stages.embedded(["1000", "1001"])
    assert state() == ("running", "vectorize", 3, 3, 2)
    stages.embedded(["1002"], content="stale")  # a vector of older content does not count
    assert state() == ("running", "vectorize", 3, 3, 2)
    stages.embedded(["1002"])
    assert state() == ("succeeded", None, 3, 3, 3)
    job = job_row(factory, ref.job_id)
    assert job.state == "ready"
    assert job.next_run_at is not None
    assert job.next_run_at > utcnow() + timedelta(seconds=3500)


def test_a_fact_deleted_at_the_source_needs_no_vector(
    pg_engine: Engine, broker_url: str, make_scheduler: Callable[..., Scheduler]
) -> None:
    factory = session_factory(pg_engine)
    ref = make_job(factory)
    scheduler = make_scheduler(broker_url)
    scheduler.tick()
    run_id = job_row(factory, ref.job_id).last_run_id
    assert run_id is not None
    stages = Stages(factory, ref, run_id)
    stages.loaded(stages.extracted(2))
    stages.embedded(["1000"])
    with transaction(factory) as session:
        session.execute(
            update(WorkItem).where(WorkItem.external_id == "1001").values(deleted_at=utcnow())
        )
    assert scheduler.tick().finished == [run_id]


def test_a_cancel_whose_worker_is_gone_is_finished_by_the_scheduler(
    pg_engine: Engine, broker_url: str, make_scheduler: Callable[..., Scheduler]
) -> None:
    factory = session_factory(pg_engine)
    ref = make_job(factory)
    scheduler = make_scheduler(broker_url)
    scheduler.tick()
    run_id = job_row(factory, ref.job_id).last_run_id
    assert run_id is not None
    _set(factory, JobRun, run_id, state="running", stage="extract", cancel_requested_at=utcnow())
    assert scheduler.tick().cancelled == [run_id]
    with factory() as session:
        run = session.get(JobRun, run_id)
        assert run is not None
        assert run.state == "cancelled"


def test_the_leading_scheduler_exports_stage_counts_and_run_durations(
    pg_engine: Engine, broker_url: str, make_scheduler: Callable[..., Scheduler]
) -> None:
    factory = session_factory(pg_engine)
    ref = make_job(factory)
    metrics = Metrics()
    scheduler = make_scheduler(broker_url, metrics=metrics)
    scheduler.tick_safely()
    stages = Stages(factory, ref, _last_run(factory, ref.job_id))
    raw = stages.extracted(3)
    scheduler.tick_safely()
    stages.loaded(raw)
    scheduler.tick_safely()
    stages.embedded(["1000", "1001", "1002"])
    scheduler.tick_safely()

    def value(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert value("pulse_records_total", stage="transform") == 3
    assert value("pulse_records_total", stage="load") == 3
    assert value("pulse_records_total", stage="vectorize") == 3
    count = value("pulse_run_duration_seconds_count", kind="incremental", outcome="succeeded")
    assert count == 1
    assert value("pulse_runs", state="running") == 0
    assert (value("pulse_scheduler_tick_seconds_count") or 0) >= 4


def test_the_scheduler_works_on_sqlite_without_a_broker(sqlite_engine: Engine) -> None:
    """Embedded mode: no RabbitMQ (runs stay queued for the in-process runner), one process
    (always the leader), and the same completion check."""
    factory = session_factory(sqlite_engine)
    ref = make_job(factory)
    scheduler = env.scheduler(sqlite_engine, None)
    try:
        report = scheduler.tick()
        assert report.leader
        [run_id] = report.triggered
        stages = Stages(factory, ref, run_id)
        stages.loaded(stages.extracted(2))
        assert scheduler.tick().finished == []
        stages.embedded(["1000", "1001"])
        assert scheduler.tick().finished == [run_id]
    finally:
        scheduler.close()
