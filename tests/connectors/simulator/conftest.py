from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.simulator import SimulatorServer

from .helpers import CONFIG


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    """A shared server for read-only tests; tests that mutate state start their own."""
    with SimulatorServer(CONFIG) as running:
        yield running


@pytest.fixture
def fresh() -> Iterator[SimulatorServer]:
    """A private server (touches, deletes, faults and rate limits change its state)."""
    with SimulatorServer(CONFIG) as running:
        yield running
