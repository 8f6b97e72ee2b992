"""`--health-port` of the long-running commands, as real processes on the real PostgreSQL and
RabbitMQ: `/healthz` and `/readyz` answer, and `/metrics` counts what the process did (records
per stage, errors, and for the dataflow shards the lag of their streams); the shards also keep
a heartbeat row with their offsets. (`pulse scheduler`: test_jobs_cli; `pulse vectorize`:
tests/dataflows/vectorize/test_process.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from connectors.simulator import SimulatorServer, config_for
from dataflows.rabbitmq import EXTRACT_QUEUE, ConfirmedPublisher, Topology
from pulse.messages import partition_for
from pulse.ops import committed_offsets
from storage.db import session_factory
from storage.schema import Job, RawRecord, WorkerHeartbeat, WorkItem
from tests.conftest import throwaway_vhost
from tests.connectors.extract.env import KEY, make_tenant
from tests.dataflows.pipeline.processes import pulse_env, run_pulse, running_pulse
from tests.dataflows.pipeline.synthetic import SyntheticIssue, issues
from tests.dataflows.pipeline.synthetic_store import BodySpool, publish, store_issues
from tests.dataflows.pipeline.synthetic_store import make_tenant as synthetic_tenant
from tests.pulse.jobs.env import declare, run_row, service
from tests.pulse.ops.scrape import free_port, sample, status, wait_until
from tests.web.conftest import JWT_SECRET

pytestmark = pytest.mark.integration

PULSE = [sys.executable, "-m", "pulse.cli"]


def _ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    try:
        wait_until(lambda: status(port, "/readyz") == 200, "/readyz", process=process)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{log.read_text(errors='replace')[-3000:]}") from None
    assert status(port, "/healthz") == 200


def _environment(database_url: str, rabbitmq_url: str | None, tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "RABBITMQ_", "ETL_", "QDRANT_", "HEALTH_"))
    }
    env.update(
        DATABASE_URL=database_url,
        ENCRYPTION_KEY=KEY,
        JWT_SECRET=JWT_SECRET,
        STATE_DIR=str(tmp_path / "state"),
        ETL_PARTITIONS="4",
        LOG_LEVEL="INFO",
    )
    if rabbitmq_url is not None:
        env["RABBITMQ_URL"] = rabbitmq_url
    return env


def test_pulse_web_serves_health_and_request_metrics_on_its_health_port(
    pg_engine: Engine, tmp_path: Path
) -> None:
    env = _environment(pg_engine.url.render_as_string(hide_password=False), None, tmp_path)
    web, health = free_port(), free_port()
    log = tmp_path / "web.log"
    args = ("web", "--port", str(web), "--health-port", str(health), "--no-access-log")
    with running_pulse(env, *args, log=log) as process:
        _ready(health, process, log)
        for _ in range(3):
            assert httpx.get(f"http://127.0.0.1:{web}/login", timeout=5).status_code == 200
        login = {"method": "GET", "route": "/login", "status": "200"}
        assert sample(health, "pulse_http_requests_total", **login) == 3
        own = httpx.get(f"http://127.0.0.1:{web}/metrics", timeout=5)  # the app serves it too
        assert 'route="/login",status="200"} 3.0' in own.text
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert process.wait(timeout=20) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in log.read_text()

    refused = subprocess.run(
        [*PULSE, *args, "--workers", "2"], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2
    assert "--health-port (or HEALTH_PORT) serves one process" in refused.stderr


def test_pulse_extract_counts_raw_records_and_errors_on_its_health_port(
    pg_engine: Engine, rabbit_url: str, tmp_path: Path
) -> None:
    url = declare(rabbit_url)
    factory = session_factory(pg_engine)
    env = _environment(pg_engine.url.render_as_string(hide_password=False), url, tmp_path)
    port = free_port()
    log = tmp_path / "extract.log"
    config = config_for("issues=40,projects=1", seed=4, sites=("acme",))
    with (
        SimulatorServer(config) as sim,
        running_pulse(
            env, "extract", "--name", "extract-test", "--health-port", str(port), log=log
        ) as proc,
    ):
        tenant = make_tenant(factory, sim, "acme")
        _ready(port, proc, log)
        assert sample(port, "pulse_records_total", stage="extract") == 0
        with factory() as session:
            job = session.scalars(select(Job).where(Job.integration_id == tenant.jira_id)).one()
        jobs = service(pg_engine, url)
        try:
            run = jobs.run_now(tenant.id, job.id)
        finally:
            jobs.close()

        def extracted() -> bool:
            row = run_row(factory, run.id)
            assert row.state not in ("failed", "cancelled"), row.error
            return row.stage not in (None, "extract")

        wait_until(extracted, "the extract", process=proc)
        with factory() as session:
            stored = session.scalar(
                select(func.count()).select_from(RawRecord).where(RawRecord.job_run_id == run.id)
            )
        assert stored >= len(sim.truth("jira", "acme")["issues"])  # and the catalog's records
        assert sample(port, "pulse_records_total", stage="extract") == stored

        with ConfirmedPublisher(url, name="test-poison") as publisher:
            publisher.publish("", EXTRACT_QUEUE, b"not a request")
        wait_until(
            lambda: sample(port, "pulse_errors_total", stage="extract", kind="fatal") == 1,
            "the poison request's error",
            process=proc,
        )


def _single_versions(count: int) -> list[SyntheticIssue]:
    newest: dict[str, SyntheticIssue] = {}
    for item in issues(count, seed=5, moves=(1, 3)):
        newest[item.external_id] = item
    return list(newest.values())


def _heartbeat(session: Session, name: str) -> WorkerHeartbeat | None:
    return session.get(WorkerHeartbeat, name)


def test_pulse_flow_shards_report_records_lag_and_offsets(
    pg_engine: Engine, pg_url: str, rabbit_url: str, tmp_path: Path
) -> None:
    factory = session_factory(pg_engine)
    tenant = synthetic_tenant(factory, "Acme")
    items = _single_versions(300)
    spool = BodySpool()
    with throwaway_vhost("pulse_flow_health") as url:
        try:
            store_issues(pg_url, tenant, items, spool, partitions=4, batch_size=20)
            with ConfirmedPublisher(url, name="test-topology") as publisher:
                Topology(4, 3).declare(publisher.channel)
            messages = publish(url, spool)
        finally:
            spool.close()
        raw_queue = Topology.stream("raw", partition_for(tenant.id, 4))
        load_queue = Topology.stream("load", partition_for(tenant.id, 4))
        env = pulse_env(pg_url, url, tmp_path, LOG_LEVEL="INFO")
        ports = {"transform": free_port(), "load": free_port()}
        log = tmp_path / "flows.log"
        with (
            running_pulse(
                env,
                *("flow", "transform", "--health-port", str(ports["transform"]), "--probe-lag"),
                log=log,
            ) as t,
            running_pulse(
                env, "flow", "load", "--health-port", str(ports["load"]), "--probe-lag", log=log
            ) as load,
        ):
            _ready(ports["transform"], t, log)
            _ready(ports["load"], load, log)

            def loaded() -> bool:
                with factory() as session:
                    return session.scalar(select(func.count()).select_from(WorkItem)) == len(items)

            wait_until(loaded, "the work items", process=load, timeout=120)
            transform, loader = ports["transform"], ports["load"]
            wait_until(
                lambda: sample(loader, "pulse_records_total", stage="load") == len(items),
                "the load's count",
            )
            assert sample(transform, "pulse_records_total", stage="transform") == len(items)
            wait_until(
                lambda: sample(transform, "pulse_queue_lag_messages", queue=raw_queue) == 0,
                "the raw stream's lag to drain",
            )
            assert sample(transform, "pulse_queue_messages", queue=raw_queue) == messages
            assert sample(transform, "pulse_errors_total", stage="transform", kind="skippable") == 0
            wait_until(
                lambda: sample(loader, "pulse_queue_lag_messages", queue=load_queue) == 0,
                "the load stream's lag to drain",
            )

            with factory() as session:
                wait_until(
                    lambda: committed_offsets(session).get(raw_queue) == messages,
                    "the transform's heartbeat offsets",
                )
                beat = _heartbeat(session, "load-0-of-1")
                assert beat is not None
                assert (beat.kind, beat.ready, beat.pid) == ("load", True, load.pid)
                assert committed_offsets(session)[load_queue] > 0
            run_pulse(env, "health", "transform-0-of-1", log=log)
            run_pulse(env, "health", "load-0-of-1", log=log)
