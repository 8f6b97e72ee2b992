"""An extract worker killed with kill -9 mid-run and restarted fetches no finished page twice and
ends with exactly the source's item set in raw_records."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from connectors.extract.worker import ExtractRequest
from connectors.jira.issue_streams import issue_scope
from connectors.simulator import SimulatorServer, config_for
from dataflows.rabbitmq import EXTRACT_QUEUE, ConfirmedPublisher, Topology
from storage.db import session_factory
from storage.schema import ExtractCheckpoint, RawRecord
from tests.connectors.extract.env import KEY, make_tenant, raw_ids, run_row, start_run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAGE = 20
ISSUES = 400
PULSE = Path(sys.executable).with_name("pulse")


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    config = config_for(f"issues={ISSUES},prs=10,repos=1,histories=60", seed=5, latency_ms=120)
    with SimulatorServer(config) as server:
        yield server


def _spawn(pg_url: str, rabbit_url: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "RABBITMQ_URL": rabbit_url,
        "ENCRYPTION_KEY": KEY,
        "ETL_PARTITIONS": "4",
        "STATE_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
    }
    with (tmp_path / "extract.log").open("ab") as log:  # the child keeps its own handle
        return subprocess.Popen(
            [str(PULSE), "extract", "--name", "kill-test"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _issue_pages(engine: Engine, integration_id: int, scope: str) -> tuple[int, bool]:
    with session_factory(engine)() as session:
        checkpoint = session.scalar(
            select(ExtractCheckpoint).where(
                ExtractCheckpoint.integration_id == integration_id,
                ExtractCheckpoint.scope == scope,
                ExtractCheckpoint.entity == "jira.issue",
            )
        )
        return (checkpoint.pages, checkpoint.finished) if checkpoint else (0, False)


def _wait(predicate, seconds: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def test_killed_worker_resumes_without_refetching_finished_pages(
    pg_engine: Engine, pg_url: str, rabbit_url: str, sim: SimulatorServer, tmp_path: Path
) -> None:
    factory = session_factory(pg_engine)
    tenant = make_tenant(factory, sim, "acme", jira_settings={"page_size": PAGE})
    projects = sorted({i["key"].split("-")[0] for i in sim.truth("jira", "acme")["issues"]})
    scope = issue_scope(projects, None)
    run_id = start_run(factory, tenant.id, tenant.jira_id)
    with ConfirmedPublisher(rabbit_url, name="test") as publisher:
        Topology(4, 3).declare(publisher.channel)
        publisher.channel.queue_purge(EXTRACT_QUEUE)
        publisher.publish(
            "", EXTRACT_QUEUE, ExtractRequest(tenant.id, tenant.jira_id, run_id).to_json()
        )

    pages_needed = math.ceil(ISSUES / PAGE)
    worker = _spawn(pg_url, rabbit_url, tmp_path)
    try:
        _wait(lambda: _issue_pages(pg_engine, tenant.jira_id, scope)[0] >= 5, 60, "5 pages")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        committed_at_kill = _issue_pages(pg_engine, tenant.jira_id, scope)[0]
        assert committed_at_kill < pages_needed, "the run finished before the kill"

        worker = _spawn(pg_url, rabbit_url, tmp_path)
        _wait(lambda: run_row(pg_engine, run_id).stage == "transform", 120, "the resumed run")
    finally:
        worker.kill()
        worker.wait(10)

    assert raw_ids(pg_engine, tenant.jira_id, "jira.issue") == {
        i["id"] for i in sim.truth("jira", "acme")["issues"]
    }
    with session_factory(pg_engine)() as session:
        rows = session.scalar(
            select(func.count()).select_from(RawRecord).where(RawRecord.entity == "jira.issue")
        )
    assert rows == ISSUES  # one raw row per issue: nothing stored twice
    # Every page is fetched once, except at most the one in flight at the kill (fetched, not
    # yet committed), which is not a finished page.
    searches = sim.stats()["by_endpoint"]["jira.search_jql"]
    assert pages_needed <= searches <= pages_needed + 1, (searches, pages_needed)
