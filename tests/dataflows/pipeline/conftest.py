"""A RabbitMQ virtual host per test: the dataflows read their streams from the first offset,
so a test must not see the streams of the one before it."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import RABBIT_HOST


def _rabbitmqctl(*args: str) -> None:
    result = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}", pytrace=False)


@pytest.fixture
def vhost_url(rabbit_url: str) -> Iterator[str]:
    vhost = f"pulse_flow_{secrets.token_hex(4)}"
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    yield f"amqp://guest:guest@{RABBIT_HOST}/{vhost}"
    _rabbitmqctl("delete_vhost", vhost)
