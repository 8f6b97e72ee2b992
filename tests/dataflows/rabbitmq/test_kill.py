"""A stream → PostgreSQL dataflow run with recovery (-r, -s 1), killed with SIGKILL twice mid-run
and restarted, ends with every message in the table exactly once: nothing lost, and the replay
after each kill stays within the open epoch instead of starting over."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from dataflows.rabbitmq import PipelinedPublisher, Topology
from tests.dataflows.rabbitmq.streams import new_stage

pytestmark = [pytest.mark.integration, pytest.mark.slow]
log = logging.getLogger(__name__)

MESSAGES = 20_000
PARTITIONS = 4
MIN_WRITING = 2.0  # seconds a run writes before it may be killed: past its first epoch commit
ROOT = Path(__file__).resolve().parents[3]
FLOW = "tests.dataflows.rabbitmq.kill_flow:build_flow()"


@pytest.fixture
def table(pg_url: str) -> Iterator[str]:
    name = f"kill_{secrets.token_hex(3)}"
    writes = f"{name}_writes"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY)").format(sql.Identifier(name))
        )
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (pid int, partition int, first_offset bigint, attempted int)"
            ).format(sql.Identifier(writes))
        )
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for t in (name, writes):
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(t)))


def _fill(url: str, stage: str) -> None:
    publisher = PipelinedPublisher(url, name="test-fill")
    try:
        for p in range(PARTITIONS):
            bodies = [b"%d" % i for i in range(p, MESSAGES, PARTITIONS)]
            publisher.publish(Topology.exchange(stage), str(p), bodies)
    finally:
        publisher.close()


def _query(pg_url: str, query: str, table: str, *args: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        statement = sql.SQL(query).format(
            rows=sql.Identifier(table), writes=sql.Identifier(f"{table}_writes")
        )
        return conn.execute(statement, args).fetchall()


def _rows(pg_url: str, table: str) -> int:
    return int(_query(pg_url, "SELECT count(*) FROM {rows}", table)[0][0])


def _written(pg_url: str, table: str, pid: int) -> int:
    found = _query(pg_url, "SELECT count(*) FROM {writes} WHERE pid = %s", table, pid)
    return int(found[0][0])


def _written_rows(pg_url: str, table: str, pid: int) -> int:
    found = _query(pg_url, "SELECT sum(attempted) FROM {writes} WHERE pid = %s", table, pid)
    return int(found[0][0])


def _resumes(
    pg_url: str, table: str, pid: int, before: list[int]
) -> dict[int, tuple[int | None, int]]:
    """Per partition: (offset run `pid` started at, None if it wrote nothing there; end offset
    written by the runs `before`)."""
    found = _query(
        pg_url,
        "SELECT partition, min(first_offset) FILTER (WHERE pid = %s),"
        " max(first_offset + attempted) FILTER (WHERE pid = ANY(%s)) FROM {writes} GROUP BY 1",
        table,
        pid,
        before,
    )
    return {p: (start, end) for p, start, end in found}


def _wait(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _run_past(pg_url: str, table: str, pid: int, rows: int) -> None:
    """Waits until run `pid` has written for a few epochs (-s 1) and the table holds `rows`."""
    _wait(lambda: _written(pg_url, table, pid) > 0, 60, "a first write")
    writing_since = time.monotonic()
    _wait(
        lambda: time.monotonic() - writing_since >= MIN_WRITING and _rows(pg_url, table) >= rows,
        60,
        f"{rows} rows",
    )


def test_kill_9_twice_loses_and_duplicates_nothing(
    rabbit_url: str, pg_url: str, table: str, tmp_path: Path
) -> None:
    stage = new_stage(rabbit_url, PARTITIONS, prefix="kill")
    _fill(rabbit_url, stage)
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "1"], check=True)
    env = {
        **os.environ,
        "KILL_RABBIT_URL": rabbit_url,
        "KILL_PG_URL": pg_url,
        "KILL_STAGE": stage,
        "KILL_PARTITIONS": str(PARTITIONS),
        "KILL_TABLE": table,
        "KILL_WRITE_DELAY": "0.0003",
    }
    command = [sys.executable, "-m", "bytewax.run", FLOW, "-r", str(recovery), "-s", "1", "-b", "0"]
    log_path = tmp_path / "flow.log"

    def start() -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:  # the child keeps its own handle
            return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)

    killed_at: list[int] = []
    pids: list[int] = []
    for threshold in (MESSAGES * 3 // 10, MESSAGES * 6 // 10):
        process = start()
        pids.append(process.pid)
        try:
            _run_past(pg_url, table, process.pid, threshold)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        killed_at.append(_rows(pg_url, table))
    assert all(count < MESSAGES for count in killed_at), f"kills came too late: {killed_at}"

    process = start()
    pids.append(process.pid)
    try:
        returncode = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert returncode == 0, log_path.read_text()[-3000:]

    rows, low, high = _query(pg_url, "SELECT count(*), min(id), max(id) FROM {rows}", table)[0]
    assert (rows, low, high) == (MESSAGES, 0, MESSAGES - 1)
    (attempted,) = _query(pg_url, "SELECT sum(attempted) FROM {writes}", table)[0]
    replayed = []
    for run, pid in enumerate(pids[1:], start=1):
        resumes = _resumes(pg_url, table, pid, pids[:run])
        # A partition the runs before had written to its end (one may run ahead of the others)
        # leaves this run nothing to write there.
        done = {p for p, (start, _end) in resumes.items() if start is None}
        assert all(resumes[p][1] == MESSAGES // PARTITIONS for p in done), resumes
        resumed = [bounds for p, bounds in resumes.items() if p not in done]
        # Resumed from a committed offset: never from the start, never past what was written.
        assert all(0 < start <= end for start, end in resumed), resumes
        replayed.append(sum(end - start for start, end in resumed))
        # Only the killed run's uncommitted tail is replayed, not everything it wrote.
        assert replayed[-1] < _written_rows(pg_url, table, pids[run - 1])
    log.info("kills at %s rows; replayed %s; %s rewrites", killed_at, replayed, attempted - rows)
    assert attempted - rows == sum(replayed)
