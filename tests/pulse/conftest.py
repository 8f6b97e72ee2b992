"""Fixtures of the jobs and ops tests: the declared topology, and job services and schedulers
that are closed (with their broker connections) when the test ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from pulse.jobs import JobService, Scheduler
from tests.pulse.jobs import env


@pytest.fixture
def broker_url(rabbit_url: str) -> str:
    """The RabbitMQ test vhost with the topology declared and the extract queues empty."""
    return env.declare(rabbit_url)


@pytest.fixture
def make_service(pg_engine: Engine) -> Iterator[Callable[..., JobService]]:
    made: list[JobService] = []

    def make(url: str | None, **kw: Any) -> JobService:
        made.append(env.service(pg_engine, url, **kw))
        return made[-1]

    yield make
    for service in made:
        service.close()


@pytest.fixture
def make_scheduler(pg_engine: Engine) -> Iterator[Callable[..., Scheduler]]:
    made: list[Scheduler] = []

    def make(url: str | None, **kw: Any) -> Scheduler:
        made.append(env.scheduler(pg_engine, url, **kw))
        return made[-1]

    yield make
    for scheduler in made:
        scheduler.close()
