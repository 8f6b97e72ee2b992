"""A dataflow shard's monitor on the real RabbitMQ and PostgreSQL: queue lag is the stream's tail
minus the shard's next offset, the heartbeat row carries those offsets (what the queue monitor
reads), and a dataflow that stops polling goes unhealthy and stops beating."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dataflows.rabbitmq import ConfirmedPublisher, Topology
from pulse.ops import committed_offsets
from pulse.ops.shard import ShardMonitor
from storage.db import session_factory
from storage.heartbeats import Heartbeat
from storage.schema import WorkerHeartbeat
from tests.conftest import throwaway_vhost
from tests.pulse.ops.scrape import free_port, sample, status, wait_until

pytestmark = pytest.mark.integration


def _publish(url: str, partition: int, count: int) -> None:
    with ConfirmedPublisher(url, name="test-publish") as publisher:
        for n in range(count):
            publisher.publish(Topology.exchange("raw"), str(partition), b'{"n": %d}' % n)


def test_lag_offsets_heartbeat_and_health_of_a_shard(pg_engine: Engine, rabbit_url: str) -> None:
    factory = session_factory(pg_engine)
    with throwaway_vhost("pulse_shard") as url:
        with ConfirmedPublisher(url, name="test-topology") as publisher:
            Topology(2, 3).declare(publisher.channel)
        _publish(url, 0, 2)
        _publish(url, 1, 5)
        heartbeat = Heartbeat(factory, "transform-0-of-1", "transform")
        monitor = ShardMonitor(
            "transform", url, heartbeat, every=0.2, patience=1.5, probe_streams=True
        )
        port = free_port()
        with monitor.running(port):
            wait_until(lambda: status(port, "/healthz") == 503, "the health port")
            assert status(port, "/readyz") == 503  # its dataflow has not polled yet

            monitor.read("etl.raw.0", None, 0)  # built without a snapshot: reads from the first
            monitor.read("etl.raw.1", 2, 2)  # read offsets 0 and 1
            assert monitor.refresh() == {"etl.raw.0": 2, "etl.raw.1": 3}
            assert status(port, "/healthz") == 200
            assert status(port, "/readyz") == 200
            assert sample(port, "pulse_queue_lag_messages", queue="etl.raw.1") == 3
            assert sample(port, "pulse_queue_messages", queue="etl.raw.1") == 5
            assert sample(port, "pulse_records_total", stage="transform") == 0
            monitor.processed(7)
            monitor.failed(1)
            assert sample(port, "pulse_records_total", stage="transform") == 7
            assert sample(port, "pulse_errors_total", stage="transform", kind="skippable") == 1
            with factory() as session:
                row = session.get(WorkerHeartbeat, "transform-0-of-1")
                assert row is not None
                assert (row.kind, row.ready, row.detail["offsets"]) == (
                    "transform",
                    True,
                    {"etl.raw.1": 2},
                )
                assert committed_offsets(session) == {"etl.raw.1": 2}

            monitor.read("etl.raw.1", 5, 3)
            wait_until(
                lambda: sample(port, "pulse_queue_lag_messages", queue="etl.raw.1") == 0,
                "the lag to drain",
            )

            # The dataflow stops polling (wedged): unhealthy, and its heartbeat goes stale.
            wait_until(lambda: status(port, "/healthz") == 503, "liveness to fail", timeout=5)
            beat_at = _beat_at(factory)
            time.sleep(0.6)  # three rounds of the monitor thread
            assert _beat_at(factory) == beat_at


def _beat_at(factory: sessionmaker[Session]) -> datetime:
    with factory() as session:
        row = session.get(WorkerHeartbeat, "transform-0-of-1")
        assert row is not None
        return row.beat_at
