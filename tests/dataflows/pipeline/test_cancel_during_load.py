"""Cancel during load, with real processes, PostgreSQL and RabbitMQ: the run is cancelled within
5 s, the load shard writes nothing of it after the cancel committed, and what it did write is
whole load messages, never part of one.

The run's raw records are transformed first (`pulse flow transform` to idle), so every one of
its load messages is on the `etl.load` stream before the load shard starts: whatever the shard
drops after the cancel, it drops in the load stage, not in the transform."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text, update

from dataflows.rabbitmq import Topology
from dataflows.rabbitmq.inspect import stream_bounds
from dataflows.rabbitmq.stream_source import StreamPartition
from pulse.messages import LoadMessage, partition_for
from storage.db import session_factory, transaction
from storage.loader import DATETIME_COLUMNS
from storage.schema import JobRun
from tests.dataflows.pipeline.processes import pulse_env, run_pulse, start_pulse
from tests.dataflows.pipeline.synthetic import SyntheticIssue, issues
from tests.dataflows.pipeline.synthetic_store import BodySpool, make_tenant, publish, store_issues
from tests.pulse.jobs.env import run_row, service, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 4
ISSUES = 6000
WINDOW = "50"  # records per transform window, so per load message


def _newest_versions(count: int) -> list[SyntheticIssue]:
    """One version per issue: with two, a message whose older version loaded and a dropped
    message with the newer one would look like a partly loaded message."""
    newest: dict[str, SyntheticIssue] = {}
    for item in issues(count, seed=3, moves=(1, 3)):
        newest[item.external_id] = item  # the newer version comes last
    return list(newest.values())


def _load_messages(url: str, partition: int) -> list[LoadMessage]:
    """Every message of the partition's `etl.load` stream, read back."""
    queue = Topology.stream("load", partition)
    last = stream_bounds(url, [queue])[queue].last
    assert last is not None, "the transform wrote nothing"
    reader = StreamPartition(url, queue, partition, None, name="test-read-load")
    messages: list[LoadMessage] = []
    try:
        deadline = time.monotonic() + 30
        while reader.snapshot() != last + 1:
            assert time.monotonic() < deadline, f"read {len(messages)} of {last + 1} messages"
            for message in reader.next_batch():
                messages.append(LoadMessage.from_json(message.body, DATETIME_COLUMNS))
            time.sleep(0.01)
    finally:
        reader.close()
    return messages


def _loaded(engine: Engine, run_id: int) -> dict[str, int]:
    """The run's work items as loaded: external id → version."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT external_id, version FROM work_items WHERE last_job_run_id = :r"),
            {"r": run_id},
        )
        return {external_id: version for external_id, version in rows}


def _unprocessed(engine: Engine, run_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM raw_records "
                    "WHERE job_run_id = :r AND processed_at IS NULL"
                ),
                {"r": run_id},
            ).scalar_one()
        )


def test_cancel_during_load_stops_at_once_and_leaves_no_half_loaded_message(
    pg_engine: Engine, pg_url: str, vhost_url: str, tmp_path: Path
) -> None:
    factory = session_factory(pg_engine)
    tenant = make_tenant(factory, "Acme")
    run_id = tenant.job_run_id
    assert run_id is not None
    items = _newest_versions(ISSUES)
    spool = BodySpool()
    try:
        assert store_issues(pg_url, tenant, items, spool, partitions=PARTITIONS) == len(items)
        Topology(PARTITIONS, 3).declare_at(vhost_url)
        publish(vhost_url, spool)
    finally:
        spool.close()
    with transaction(factory) as session:  # the extract is over: the run is downstream
        session.execute(
            update(JobRun).where(JobRun.id == run_id).values(state="running", stage="transform")
        )

    env = pulse_env(pg_url, vhost_url, tmp_path, ETL_BATCH_SIZE=WINDOW)
    log = tmp_path / "flows.log"
    run_pulse(env, "flow", "transform", "--stop-at-idle", "3", log=log)
    assert _loaded(pg_engine, run_id) == {}
    with transaction(factory) as session:
        session.execute(update(JobRun).where(JobRun.id == run_id).values(stage="load"))

    load = start_pulse(env, "flow", "load", "--stop-at-idle", "3", log=log)
    jobs = service(pg_engine, vhost_url)
    try:
        wait_for(lambda: _loaded(pg_engine, run_id), 120, "the first loaded batch", every=0.01)
        asked = time.monotonic()
        outcome = jobs.cancel(tenant.id, run_id)
        took = time.monotonic() - asked
        at_cancel = _loaded(pg_engine, run_id)
        assert outcome.cancelled
        assert took < 5, f"the cancel took {took:.1f} s"
        assert run_row(factory, run_id).state == "cancelled"
        assert load.wait(timeout=180) == 0, log.read_text()[-5000:]
    finally:
        jobs.close()
        if load.poll() is None:
            load.kill()
            load.wait()

    # Nothing of the run loaded after the cancel committed, though messages were left.
    final = _loaded(pg_engine, run_id)
    assert final == at_cancel
    assert 0 < len(final) < len(items), "the cancel did not land during the load"
    # Dropped records are processed all the same (the sweeper must not send them again).
    assert _unprocessed(pg_engine, run_id) == 0
    with factory() as session:
        run = session.scalars(select(JobRun).where(JobRun.id == run_id)).one()
        assert (run.state, run.loaded) == ("cancelled", len(final))

    # Each load message is loaded whole or not at all.
    messages = _load_messages(vhost_url, partition_for(tenant.id, PARTITIONS))
    whole = 0
    for message in messages:
        keys = {
            row["external_id"]: row["version"]
            for output in message.outputs
            for row in output.get("work_items", ())
        }
        hits = sum(final.get(key) == version for key, version in keys.items())
        assert hits in (0, len(keys)), f"a message loaded {hits} of its {len(keys)} items"
        whole += bool(keys) and hits == len(keys)
    assert sum(len(m.outputs) for m in messages) == len(items)
    assert 0 < whole < len(messages)
