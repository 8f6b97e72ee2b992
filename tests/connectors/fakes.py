"""Test doubles at the network edge: an httpx MockTransport that records what it was asked."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

# The recorded real payloads live next to the repository (read-only, never copied in).
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "real"

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Wraps a handler; keeps every request so tests can count and inspect them."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


def sequence(responses: Iterable[httpx.Response | Exception]) -> Recorder:
    """A transport answering with `responses` in order (an exception is raised instead)."""
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return Recorder(handler)


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


class FixedClock:
    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Sleeps(list[float]):
    """A `sleep` that records instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
