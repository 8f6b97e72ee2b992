"""Rate limiting per credential and the headers each source reports about it.

Budgets are keyed by (system, token), never by site: two Jira sites used with one API token
spend one budget, as they would against Atlassian. Windows are fixed: a credential's window
starts with its first request and resets `window` seconds later.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

UNLIMITED = 1_000_000  # what an unlimited simulator reports as the limit


@dataclass(frozen=True, slots=True)
class Budget:
    allowed: bool
    limit: int
    remaining: int
    used: int
    reset_at: float  # epoch seconds

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.reset_at - now))

    def jira_headers(self) -> dict[str, str]:
        reset = datetime.fromtimestamp(self.reset_at, UTC).isoformat(timespec="seconds")
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": reset.replace("+00:00", "Z"),
        }

    def github_headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(math.ceil(self.reset_at)),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-resource": "graphql",
        }

    def graphql(self, cost: int, nodes: int) -> dict[str, object]:
        reset = datetime.fromtimestamp(math.ceil(self.reset_at), UTC).isoformat()
        return {
            "cost": cost,
            "limit": self.limit,
            "remaining": self.remaining,
            "used": self.used,
            "nodeCount": nodes,
            "resetAt": reset.replace("+00:00", "Z"),
        }


class RateLimiter:
    def __init__(
        self, limit: int | None, window: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}  # key -> (reset_at, used)

    def _current(self, key: tuple[str, str], now: float) -> tuple[float, int]:
        reset_at, used = self._windows.get(key, (0.0, 0))
        if now >= reset_at:
            reset_at, used = now + self.window, 0
        return reset_at, used

    def _budget(self, allowed: bool, reset_at: float, used: int) -> Budget:
        limit = self.limit if self.limit is not None else UNLIMITED
        return Budget(allowed, limit, max(0, limit - used), used, reset_at)

    def take(self, system: str, token: str, cost: int = 1) -> Budget:
        """Spend `cost` units; a request that would overspend is refused and spends nothing."""
        with self._lock:
            now = self.clock()
            key = (system, token)
            reset_at, used = self._current(key, now)
            allowed = self.limit is None or used + cost <= self.limit
            if allowed:
                used += cost
            self._windows[key] = (reset_at, used)
            return self._budget(allowed, reset_at, used)

    def peek(self, system: str, token: str) -> Budget:
        with self._lock:
            reset_at, used = self._current((system, token), self.clock())
            return self._budget(True, reset_at, used)

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
