"""Queue monitor figures on real RabbitMQ (AMQP only), and the management API's rates (a mocked
API: the broker under test does not run the management plugin)."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from sqlalchemy import Engine

from dataflows.rabbitmq import VECTORIZE_QUEUE, ConfirmedPublisher, Topology
from dataflows.rabbitmq.inspect import queue_depths, stream_bounds
from pulse.ops import ManagementApi, Metrics, QueueMonitor, QueueStats
from pulse.ops.queues import export
from storage.db import session_factory
from storage.heartbeats import Heartbeat
from tests.pulse.jobs.env import TOPOLOGY, declare

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _publish(url: str, exchange: str, routing_key: str, count: int) -> None:
    with ConfirmedPublisher(url, name="test-fill") as publisher:
        for n in range(count):
            publisher.publish(exchange, routing_key, json.dumps({"n": n}).encode())


def _by_name(stats: list[QueueStats]) -> dict[str, QueueStats]:
    return {s.name: s for s in stats}


def test_depths_lengths_lag_and_rates_from_amqp(pg_engine: Engine, rabbit_url: str) -> None:
    url = declare(rabbit_url)
    with ConfirmedPublisher(url, name="test-purge") as publisher:
        publisher.channel.queue_purge(VECTORIZE_QUEUE)
    factory = session_factory(pg_engine)
    clock = Clock()
    monitor = QueueMonitor(url, TOPOLOGY, factory, clock=clock)
    stream = Topology.stream("raw", 2)
    before = _by_name(monitor.snapshot())[stream]
    assert before.exists
    assert before.kind == "stream"
    assert before.partition == 2
    end = before.last_offset + 1 if before.last_offset is not None else 0

    _publish(url, "", VECTORIZE_QUEUE, 5)
    _publish(url, Topology.exchange("raw"), "2", 10)
    # The transform shard owning partition 2 has committed up to 4 of the 10 new messages.
    Heartbeat(factory, "transform-0-of-1", "transform").beat(offsets={stream: end + 4})
    clock.now = 2.0
    after = _by_name(monitor.snapshot())

    work = after[VECTORIZE_QUEUE]
    assert (work.kind, work.messages, work.consumers) == ("work", 5, 0)
    assert (work.lag, work.lag_source) == (5, "depth")
    assert work.publish_rate is None  # work-queue rates need the management API

    raw = after[stream]
    assert raw.last_offset == end + 9
    assert before.messages is not None
    assert raw.messages == before.messages + 10
    assert (raw.committed_offset, raw.lag, raw.lag_source) == (end + 4, 6, "offsets")
    assert raw.publish_rate == 5.0  # 10 messages in 2 s
    unreported = after[Topology.stream("load", 3)]
    assert unreported.lag_source == "length"
    assert unreported.lag == unreported.messages
    assert {s.kind for s in after.values()} == {"work", "stream", "dead"}
    assert after["etl.dead.extract"].exists

    metrics = Metrics()
    export(metrics, list(after.values()))
    assert metrics.registry.get_sample_value("pulse_queue_lag_messages", {"queue": stream}) == 6


def test_a_missing_queue_is_reported_as_missing(rabbit_url: str) -> None:
    assert queue_depths(rabbit_url, ["etl.nowhere", "etl.nowhere.2"]) == {
        "etl.nowhere": None,
        "etl.nowhere.2": None,
    }
    assert stream_bounds(rabbit_url, []) == {}


def _management(client: httpx.Client, vhost: str) -> ManagementApi:
    return ManagementApi("http://ops:secret@rabbit.example:15672/", vhost, client=client)


def test_rates_come_from_the_management_api(pg_engine: Engine, rabbit_url: str) -> None:
    url = declare(rabbit_url)
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json=[
                {
                    "name": VECTORIZE_QUEUE,
                    "messages": 3,
                    "consumers": 2,
                    "message_stats": {
                        "publish_details": {"rate": 12.5},
                        "deliver_get_details": {"rate": 11.0},
                    },
                },
                {"name": "etl.raw.0", "messages": 0, "consumers": 1},
            ],
        )

    vhost = url.rsplit("/", 1)[1]
    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        api = _management(client, vhost)
        stats = _by_name(
            QueueMonitor(url, TOPOLOGY, session_factory(pg_engine), management=api).snapshot()
        )
    assert str(seen[0].url) == f"http://rabbit.example:15672/api/queues/{vhost}"
    assert seen[0].headers["authorization"].startswith("Basic ")
    assert (stats[VECTORIZE_QUEUE].publish_rate, stats[VECTORIZE_QUEUE].deliver_rate) == (
        12.5,
        11.0,
    )
    assert stats["etl.raw.0"].publish_rate is None  # no message_stats yet


def test_an_unavailable_management_api_falls_back_to_amqp(
    pg_engine: Engine, rabbit_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = declare(rabbit_url)
    unavailable = httpx.MockTransport(lambda _request: httpx.Response(503))
    with httpx.Client(transport=unavailable) as client, caplog.at_level(logging.WARNING):
        monitor = QueueMonitor(
            url, TOPOLOGY, session_factory(pg_engine), management=_management(client, "/")
        )
        stats = _by_name(monitor.snapshot())
    assert stats[VECTORIZE_QUEUE].exists
    assert "management API unavailable" in caplog.text
