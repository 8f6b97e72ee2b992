"""Live progress: the hub's bounded per-client queues, the jobs page's SSE stream (snapshot
first, then tenant-scoped updates), and the process's RabbitMQ consumer end to end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from dataflows.rabbitmq.progress import ProgressPublisher
from pulse.jobs import ProgressEvent, StageProgress
from storage.schema import JobRun
from storage.schema import Session as WebSession
from tests.web.conftest import BASE_URL, ORIGIN, World, make_settings, sign_in
from web import WebConfig, create_app
from web.progress import DROPPED, ProgressHub

pytestmark = pytest.mark.integration


def _event(world_tenant, *, run_id: int, job_id: int, extracted: int) -> ProgressEvent:
    return ProgressEvent(
        tenant_id=world_tenant.id,
        job_id=job_id,
        integration_id=world_tenant.ids["integration_id"],
        job_run_id=run_id,
        state="running",
        stage="extract",
        extracted=extracted,
        transformed=0,
        loaded=0,
        vectorized=0,
        failed=0,
        total_expected=1000,
        stages={
            "extract": StageProgress(extracted, 1000),
            "transform": StageProgress(0, extracted),
            "load": StageProgress(0, None),
            "vectorize": StageProgress(0, None),
        },
        rate=50.0,
        eta_seconds=(1000 - extracted) / 50.0,
        rate_limited_until=None,
        error=None,
        observed_at=datetime.now(UTC),
    )


def _events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event name, data) pairs from an SSE body; comments (pings) skipped."""
    name, data = "message", list[str]()
    for line in lines:
        if line == "":
            if data:
                yield name, "\n".join(data)
            name, data = "message", list[str]()
        elif line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


def _running(engine: Engine, world: World) -> int:
    """Make A's Jira job run: its last run is running (the live panel shows)."""
    run_id = world.a.ids["run_id"]
    with Session(engine) as session, session.begin():
        session.execute(
            update(JobRun)
            .where(JobRun.id == run_id)
            .values(
                state="running",
                stage="extract",
                finished_at=None,
                extracted=10,
                total_expected=1000,
            )
        )
    return run_id


def test_a_slow_client_is_dropped_not_waited_for() -> None:
    async def scenario() -> None:
        hub = ProgressHub(queue_size=2)
        hub.bind(asyncio.get_running_loop())
        slow, other_tenant = hub.subscribe(1), hub.subscribe(2)
        event = ProgressEvent.__new__(ProgressEvent)
        object.__setattr__(event, "tenant_id", 1)
        object.__setattr__(event, "job_id", 5)
        for _ in range(3):
            hub.publish(event)
        assert slow.dropped
        assert slow.queue.get_nowait() is DROPPED
        assert hub.subscriber_count(1) == 0
        assert other_tenant.queue.empty()
        assert hub.subscriber_count(2) == 1

    asyncio.run(scenario())


def test_the_stream_starts_with_a_snapshot_then_follows_the_tenants_events(
    app, world: World, client_factory, pg_engine: Engine
) -> None:
    run_id = _running(pg_engine, world)
    client = client_factory(world.a.users["viewer"])
    hub: ProgressHub = app.state.web.hub
    job_a, job_b = world.a.ids["job_id"], world.b.ids["job_id"]
    with client.stream("GET", "/jobs/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response.iter_lines())
        snapshot = [next(events), next(events)]
        names = {name for name, _ in snapshot}
        assert names == {f"job-{job_a}", f"job-{world.a.ids['github_job_id']}"}
        card = dict(snapshot)[f"job-{job_a}"]
        assert "Jira ALPHA" in card
        assert "Run #" in card
        assert "10 / 1,000" in card
        assert hub.subscriber_count(world.a.id) == 1
        # Another tenant's event never reaches this stream; this tenant's does.
        hub.publish_threadsafe(
            _event(world.b, run_id=world.b.ids["run_id"], job_id=job_b, extracted=7)
        )
        hub.publish_threadsafe(_event(world.a, run_id=run_id, job_id=job_a, extracted=400))
        name, data = next(events)
        assert name == f"job-{job_a}"
        assert "400 / 1,000" in data
        assert "50.0 records/s" in data
        assert "ETA 12s" in data
        assert "BRAVO" not in data


def test_the_stream_ends_when_the_session_does(
    app, world: World, client_factory, pg_engine: Engine
) -> None:
    run_id = _running(pg_engine, world)
    client = client_factory(world.a.users["admin"])
    with client.stream("GET", f"/jobs/events?job={world.a.ids['job_id']}") as response:
        events = _events(response.iter_lines())
        assert next(events)[0] == f"job-{world.a.ids['job_id']}"
        with Session(pg_engine) as session, session.begin():
            session.execute(update(WebSession).values(revoked_at=datetime.now(UTC)))
        app.state.web.hub.publish_threadsafe(
            _event(world.a, run_id=run_id, job_id=world.a.ids["job_id"], extracted=20)
        )
        assert next(events)[0] == "session-ended"
        assert next(events, None) is None


def test_progress_from_rabbitmq_reaches_the_page(
    world: World, pg_engine: Engine, rabbit_url: str, tmp_path: Path
) -> None:
    run_id = _running(pg_engine, world)
    settings = make_settings(
        pg_engine.url.render_as_string(hide_password=False), tmp_path, rabbitmq_url=rabbit_url
    )
    app = create_app(settings, engine=pg_engine, config=WebConfig())
    job_id = world.a.ids["job_id"]
    with TestClient(app, base_url=BASE_URL, headers=ORIGIN) as client:
        consumer = app.state.progress_consumer
        assert consumer is not None
        assert consumer.ready.wait(10)
        sign_in(app, client, world.a.users["viewer"])
        with client.stream("GET", f"/jobs/events?job={job_id}") as response:
            events = _events(response.iter_lines())
            assert "10 / 1,000" in next(events)[1]
            sent = time.monotonic()
            with ProgressPublisher(rabbit_url, name="test-progress") as publisher:
                event = _event(world.a, run_id=run_id, job_id=job_id, extracted=640)
                publisher.publish(event.routing_key, event.to_json())
            name, data = next(events)
            assert name == f"job-{job_id}"
            assert "640 / 1,000" in data
            assert time.monotonic() - sent < 5
