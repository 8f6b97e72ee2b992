"""The demo on the production path: with DATABASE_URL (PostgreSQL) and RABBITMQ_URL set it
starts the worker processes (extract, transform and load shards, vectorize, scheduler), its
runs go through RabbitMQ, the counts match the simulator, and every process is stopped."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pulse.demo import Dataset, DemoOptions, run_demo
from tests.conftest import throwaway_vhost
from tests.demo.env import ISSUES, PRS, SCALE, embedded_settings
from tests.storage.fresh_db import fresh_pg_database

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _children_of(state: Path) -> list[int]:
    """Processes started with STATE_DIR=`state` (the demo's children) still running."""
    marker = f"STATE_DIR={state}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:  # gone meanwhile, or not ours
            continue
    return found


def test_demo_with_rabbitmq_runs_the_worker_processes(tmp_path: Path, rabbit_url: str) -> None:
    state = tmp_path / "state"
    with fresh_pg_database() as database_url, throwaway_vhost("pulse_demo") as amqp_url:
        settings = embedded_settings(
            state,
            database_url=database_url,
            rabbitmq_url=amqp_url,
            etl_partitions=4,
            etl_batch_max_delay_ms=200,
            scheduler_tick_ms=200,
        )
        options = DemoOptions(
            dataset=Dataset(scale=SCALE, seed=3), serve=False, simulator_port=0, shards=2
        )
        out = io.StringIO()

        report = run_demo(settings, options, out=out)

    assert report.problems() == []
    assert report.mode == "processes"
    assert report.loaded == {
        "work_items": ISSUES,
        "pull_requests": PRS,
        "vector_points": ISSUES + PRS,
        "qdrant_points": ISSUES + PRS,
    }
    assert [r.state for r in report.runs] == ["succeeded", "succeeded"]
    logs = sorted(p.name for p in (state / "logs").iterdir())
    assert logs == [
        "extract.log",
        "load-0-of-2.log",
        "load-1-of-2.log",
        "scheduler.log",
        "transform-0-of-2.log",
        "transform-1-of-2.log",
        "vectorize.log",
    ]
    assert (state / "recovery" / "transform-1-of-2").is_dir()
    assert "started extract, transform-0-of-2, transform-1-of-2, load-0-of-2" in out.getvalue()
    assert _children_of(state) == []
