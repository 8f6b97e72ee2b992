"""Rate budgets: one per credential, shared by every job and process using that credential.

The HTTP layer asks the budget before each request and reports what the server said after it.
`InMemoryBudget` serves tests and the embedded mode; storage provides a PostgreSQL-backed
budget (one row per credential fingerprint, updated atomically) for several processes.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class BudgetState:
    remaining: int | None  # None: unknown yet
    reset_at: datetime | None


class RateBudget(Protocol):
    def reserve(self, cost: int = 1) -> datetime | None:
        """Take `cost` units. Returns None when granted, else the time the budget resets."""
        ...

    def observe(self, remaining: int | None, reset_at: datetime | None) -> None:
        """Record what the server reported (rate-limit headers or GraphQL `rateLimit`)."""
        ...


class InMemoryBudget:
    """A process-local budget. `reserve` is optimistic while nothing is known yet."""

    def __init__(self, reserve_floor: int = 0) -> None:
        self._lock = threading.Lock()
        self._remaining: int | None = None
        self._reset_at: datetime | None = None
        self._floor = reserve_floor

    def reserve(self, cost: int = 1) -> datetime | None:
        with self._lock:
            now = datetime.now(UTC)
            if self._reset_at is not None and now >= self._reset_at:
                self._remaining, self._reset_at = None, None
            if self._remaining is None:
                return None
            if self._remaining - cost < self._floor:
                return self._reset_at or now
            self._remaining -= cost
            return None

    def observe(self, remaining: int | None, reset_at: datetime | None) -> None:
        with self._lock:
            if remaining is not None:
                self._remaining = remaining
            if reset_at is not None:
                self._reset_at = reset_at

    @property
    def state(self) -> BudgetState:
        with self._lock:
            return BudgetState(self._remaining, self._reset_at)


def credential_fingerprint(provider: str, base_url: str, secret: str) -> str:
    """Identifies a credential without revealing it: the key of its shared budget.

    Servers count a token's requests per host (GitHub: one budget per token whatever the
    organisation), so the host, not the full base URL, is part of the key."""
    host = urlsplit(base_url).netloc.lower()
    material = f"{provider}\0{host}\0{secret}".encode()
    return hashlib.sha256(material).hexdigest()[:40]
