"""A RabbitMQ virtual host per test: the dataflows read their streams from the first offset,
so a test must not see the streams of the one before it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import throwaway_vhost


@pytest.fixture
def vhost_url(rabbit_url: str) -> Iterator[str]:  # rabbit_url: fails early when RabbitMQ is down
    with throwaway_vhost("pulse_flow") as url:
        yield url
