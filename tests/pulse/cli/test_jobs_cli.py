"""`pulse jobs`, `pulse dead-letters`, `pulse queues` and `pulse scheduler` as an operator runs
them, against real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from connectors.simulator import SimulatorServer, config_for
from pulse.cli import main
from pulse.jobs import Scheduler
from storage import run_state
from storage.db import session_factory, transaction
from storage.schema import Job, Tenant, WorkerHeartbeat, utcnow
from tests.connectors.extract.env import KEY, make_tenant
from tests.pulse.jobs.env import (
    declare,
    extract_worker,
    make_job,
    process_raw_records,
    running,
    take_requests,
    wait_for,
)

pytestmark = pytest.mark.integration

PULSE = Path(sys.executable).with_name("pulse")
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def environment(
    pg_engine: Engine, rabbit_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The variables an operator would set; the working directory has no `.env`."""
    monkeypatch.chdir(tmp_path)
    env = {
        "DATABASE_URL": pg_engine.url.render_as_string(hide_password=False),
        "RABBITMQ_URL": declare(rabbit_url),
        "ETL_PARTITIONS": "4",
        "ENCRYPTION_KEY": KEY,
        "SCHEDULER_TICK_MS": "100",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def pulse(environment: dict[str, str], capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def _slug(factory: sessionmaker[Session], tenant_id: int) -> str:
    with factory() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        return tenant.slug


def test_list_run_pause_resume_and_cancel(pg_engine: Engine, pulse: Run) -> None:
    factory = session_factory(pg_engine)
    ref = make_job(factory, "Acme")
    code, out, _ = pulse("jobs", "list")
    assert code == 0
    assert "acme\tJira (jira)\tready" in out

    code, out, _ = pulse("jobs", "run", "acme", "jira")
    assert code == 0
    assert out.startswith("run ")
    run_id = int(out.split()[1])
    assert [r.job_run_id for r in take_requests(os.environ["RABBITMQ_URL"])] == [run_id]

    code, _, err = pulse("jobs", "run", "acme", "Jira")
    assert code == 2
    assert f"running already (run {run_id})" in err

    assert pulse("jobs", "pause", "acme", "jira")[:2] == (0, f"job {ref.job_id} paused\n")
    code, out, _ = pulse("jobs", "resume", "acme", str(ref.integration_id))
    assert (code, out) == (0, f"job {ref.job_id} resumed: run {run_id} continues\n")
    assert pulse("jobs", "cancel", "acme", "jira")[:2] == (0, f"run {run_id} cancelled\n")
    code, out, _ = pulse("jobs", "list", "--tenant", "acme")
    assert f"{run_id} cancelled" in out

    code, _, err = pulse("jobs", "run", "nobody", "jira")
    assert code == 2
    assert "no tenant 'nobody'" in err


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(config_for("issues=60,projects=1", seed=9, sites=("acme",))) as server:
        yield server


def test_run_wait_shows_the_run_to_its_end_and_exits_0(
    pg_engine: Engine,
    pulse: Run,
    sim: SimulatorServer,
    make_scheduler: Callable[..., Scheduler],
) -> None:
    factory = session_factory(pg_engine)
    tenant = make_tenant(factory, sim, "acme")
    _only_jira_runs(factory, tenant.github_id)
    url = os.environ["RABBITMQ_URL"]
    scheduler = make_scheduler(url)
    with (
        extract_worker(pg_engine, url),
        running(scheduler.serve),
        running(lambda stop: process_raw_records(factory, stop)),
    ):
        code, out, err = pulse("jobs", "run", _slug(factory, tenant.id), "Jira", "--wait")
    assert code == 0, err
    assert "succeeded: " in out
    assert "no scheduler heartbeat" in err  # the test's scheduler beats no heartbeat row


def test_run_wait_exits_1_with_the_runs_error(
    pg_engine: Engine,
    pulse: Run,
    sim: SimulatorServer,
    make_scheduler: Callable[..., Scheduler],
) -> None:
    factory = session_factory(pg_engine)
    tenant = make_tenant(factory, sim, "acme")
    _only_jira_runs(factory, tenant.github_id)
    sim.inject_fault("401", count=1000, site="acme")
    try:
        with extract_worker(pg_engine, os.environ["RABBITMQ_URL"]):
            code, _, err = pulse("jobs", "run", _slug(factory, tenant.id), "jira", "--wait")
    finally:
        sim.clear_faults()
    assert code == 1
    assert "failed: " in err
    assert "401" in err


def test_dead_letters_list_requeue_and_discard(pg_engine: Engine, pulse: Run) -> None:
    factory = session_factory(pg_engine)
    ref = make_job(factory, "Acme")
    with transaction(factory) as session:
        ids = [
            run_state.record_dead_letter(
                session,
                stage="transform",
                source_queue="nowhere",
                message="{}",
                error=f"boom {n}",
                tenant_id=ref.tenant_id,
            ).id
            for n in range(2)
        ]
    code, out, _ = pulse("dead-letters", "list", "--tenant", "acme")
    assert code == 0
    assert [line.split("\t")[0] for line in out.splitlines()[1:]] == [str(i) for i in ids[::-1]]
    code, _, err = pulse("dead-letters", "requeue", str(ids[0]))
    assert code == 1
    assert "cannot be requeued; discard it" in err
    assert pulse("dead-letters", "discard", str(ids[0]))[:2] == (0, f"{ids[0]}: discarded\n")
    code, out, _ = pulse("dead-letters", "list", "--status", "discarded")
    assert f"{ids[0]}\tdiscarded\ttransform" in out


def test_queues_lists_every_queue(pulse: Run) -> None:
    code, out, _ = pulse("queues")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("QUEUE\tKIND")
    assert any(line.startswith("etl.extract\twork\t") for line in lines)
    assert sum(line.startswith("etl.raw.") for line in lines) == 4


def test_the_scheduler_process_serves_health_and_stops_gracefully(
    pg_engine: Engine, environment: dict[str, str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [str(PULSE), "scheduler", "--name", "scheduler-test", "--health-port", str(port)],
        env={**os.environ, **environment},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, 30, "the scheduler's /healthz", every=0.2)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert "pulse_scheduler_tick_seconds_count" in metrics
        with session_factory(pg_engine)() as session:
            beat = session.scalars(
                select(WorkerHeartbeat).where(WorkerHeartbeat.name == "scheduler-test")
            ).one()
        assert (beat.kind, beat.detail["leader"]) == ("scheduler", True)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "scheduler stopped" in err


def _only_jira_runs(factory: sessionmaker[Session], github_id: int) -> None:
    """The GitHub job never runs and the Jira job only when asked (not by the schedule)."""
    later = utcnow() + timedelta(hours=1)
    with transaction(factory) as session:
        session.execute(update(Job).where(Job.integration_id == github_id).values(enabled=False))
        session.execute(update(Job).where(Job.enabled.is_(True)).values(next_run_at=later))
