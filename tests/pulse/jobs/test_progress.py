"""Progress events: what they say, how they are coalesced, and that a subscriber of
`etl.progress` receives them with the job's routing key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from dataflows.rabbitmq.progress import ProgressPublisher
from pulse.errors import RetriableError
from pulse.jobs import (
    ProgressEmitter,
    ProgressEvent,
    ProgressFeed,
    ProgressReporter,
    RateTracker,
    Scheduler,
    StageProgress,
    build_event,
    stage_progress,
)
from storage import run_state
from storage.db import session_factory, transaction
from storage.schema import JobRun
from tests.pulse.jobs.env import Stages, job_row, make_job, take_requests


def _run(**values: object) -> JobRun:
    defaults: dict[str, object] = {
        "id": 7,
        "tenant_id": 3,
        "job_id": 5,
        "integration_id": 11,
        "kind": "incremental",
        "state": "running",
        "stage": "extract",
        "extracted": 0,
        "transformed": 0,
        "loaded": 0,
        "vectorized": 0,
        "failed": 0,
        "total_expected": None,
        "rate_limited_until": None,
        "error": None,
    }
    return JobRun(**{**defaults, **values})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_event_round_trips_through_json_with_its_routing_key() -> None:
    until = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    event = build_event(
        _run(state="rate_limited", rate_limited_until=until, total_expected=500, extracted=120)
    )
    assert event.routing_key == "tenant.3.job.5"
    back = ProgressEvent.from_json(event.to_json())
    assert back == event
    assert back.rate_limited_until == until
    assert back.stages["extract"] == StageProgress(120, 500)


def test_stage_bars_show_what_each_stage_did_of_what_the_previous_one_produced() -> None:
    extracting = stage_progress(_run(extracted=40, total_expected=100))
    assert extracting["extract"] == StageProgress(40, 100)
    assert extracting["transform"] == StageProgress(0, 40)
    assert extracting["load"].total is None

    loading = stage_progress(_run(stage="load", extracted=90, transformed=60, loaded=55))
    assert loading["extract"] == StageProgress(90, 90)  # extract is over: its total is final
    assert loading["transform"] == StageProgress(60, 90)

    done = stage_progress(
        _run(state="succeeded", stage=None, extracted=9, transformed=9, loaded=8, vectorized=7)
    )
    assert all(bar.done == bar.total for bar in done.values())


def test_rate_and_eta_of_the_current_stage() -> None:
    rates = RateTracker()
    build_event(_run(extracted=0, total_expected=1000), rates=rates, now=0.0)
    event = build_event(_run(extracted=200, total_expected=1000), rates=rates, now=2.0)
    assert event.rate == 100.0
    assert event.eta_seconds == 8.0
    # A new stage starts its own rate.
    moved = build_event(_run(stage="transform", extracted=1000), rates=rates, now=3.0)
    assert moved.rate is None


def test_the_emitter_coalesces_per_run_and_never_holds_back_the_end() -> None:
    sent: list[tuple[str, ProgressEvent]] = []
    clock = Clock()
    emitter = ProgressEmitter(
        lambda key, body: sent.append((key, ProgressEvent.from_json(body))),
        min_interval=0.25,
        clock=clock,
    )
    for n in range(1, 11):  # ten changes within 0.1 s
        emitter.offer(build_event(_run(extracted=n)))
        clock.now += 0.01
    emitter.offer(build_event(_run(id=8, job_id=6, extracted=1)))  # another run: not held back
    assert [(k, e.extracted) for k, e in sent] == [("tenant.3.job.5", 1), ("tenant.3.job.6", 1)]
    emitter.flush_due()
    assert len(sent) == 2  # still within the interval
    clock.now += 0.25
    emitter.flush_due()
    assert sent[-1][1].extracted == 10  # the newest of the held-back ones
    emitter.offer(build_event(_run(extracted=10)))
    clock.now += 1
    emitter.flush_due()
    assert len(sent) == 3  # nothing changed: nothing sent
    emitter.offer(build_event(_run(extracted=11)))
    emitter.offer(build_event(_run(state="succeeded", stage=None, extracted=11)))
    assert sent[-1][1].state == "succeeded"  # the end goes out at once


def test_a_failed_send_is_counted_not_raised() -> None:
    def broken(_key: str, _body: bytes) -> None:
        raise RetriableError("broker down")

    emitter = ProgressEmitter(broken)
    emitter.offer(build_event(_run(extracted=1)))
    assert (emitter.sent, emitter.failures) == (0, 1)


@pytest.mark.integration
def test_a_subscriber_receives_the_schedulers_events_with_the_jobs_routing_key(
    pg_engine: Engine, broker_url: str, make_scheduler: Callable[..., Scheduler]
) -> None:
    factory = session_factory(pg_engine)
    ref = make_job(factory)
    other = make_job(factory, "Other")
    with (
        ProgressPublisher(broker_url, name="test-progress") as publisher,
        ProgressFeed(broker_url, tenant_id=ref.tenant_id, job_id=ref.job_id) as feed,
        ProgressFeed(broker_url, tenant_id=other.tenant_id + 1000) as nobody,
    ):
        scheduler = make_scheduler(
            broker_url, progress=ProgressEmitter(publisher.publish, min_interval=0.0)
        )
        scheduler.tick()
        take_requests(broker_url)
        run_id = job_row(factory, ref.job_id).last_run_id
        assert run_id is not None
        queued = feed.next(5)
        assert queued is not None
        assert (queued.tenant_id, queued.job_id, queued.job_run_id) == (
            ref.tenant_id,
            ref.job_id,
            run_id,
        )
        assert queued.state == "queued"

        stages = Stages(factory, ref, run_id)
        raw = stages.extracted(4)
        scheduler.tick()
        stages.loaded(raw)
        scheduler.tick()
        stages.embedded([str(1000 + n) for n in range(4)])
        scheduler.tick()
        events = _drain(feed)
        assert events[-1].state == "succeeded"
        assert (events[-1].transformed, events[-1].loaded, events[-1].vectorized) == (4, 4, 4)
        assert [e.stage for e in events[:-1]] == ["transform", "vectorize"]
        assert events[1].stages["vectorize"] == StageProgress(0, 4)
        assert all(e.job_id == ref.job_id for e in events)
        assert nobody.next(0.2) is None


@pytest.mark.integration
def test_a_stage_reports_progress_right_after_its_commit(
    pg_engine: Engine, broker_url: str
) -> None:
    factory = session_factory(pg_engine)
    ref = make_job(factory)
    with transaction(factory) as session:
        from storage.repositories import jobs

        run = jobs.start_run(session, ref.tenant_id, ref.job_id)
        assert run is not None
        run_state.add_extracted(session, run.id, 25, 1)
    with (
        ProgressPublisher(broker_url, name="test-stage") as publisher,
        ProgressFeed(broker_url, job_id=ref.job_id) as feed,
    ):
        reporter = ProgressReporter(factory, ProgressEmitter(publisher.publish))
        reporter.report([run.id])
        event = feed.next(5)
    assert event is not None
    assert (event.state, event.extracted) == ("running", 25)
    assert event.observed_at > datetime.now(UTC) - timedelta(seconds=10)


def _drain(feed: ProgressFeed) -> list[ProgressEvent]:
    events = []
    while (event := feed.next(0.5)) is not None:
        events.append(event)
    return events
