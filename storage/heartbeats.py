"""Worker liveness: each long-running process upserts its row every few seconds; health checks
and the web read the age of that row. The process itself asks its `Heartbeat` when its loop
last went round and whether the database took the last row (its /healthz and /readyz)."""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.db import transaction
from storage.schema import WorkerHeartbeat, utcnow


class Heartbeat:
    def __init__(
        self, factory: sessionmaker[Session], name: str, kind: str, *, every_seconds: float = 5.0
    ) -> None:
        self._factory = factory
        self._name, self._kind = name, kind
        self._every = timedelta(seconds=every_seconds)
        self._started = utcnow()
        self._last: datetime | None = None
        # Monotonic times of the last call (the loop went round) and the last row written (the
        # database answered), and the readiness that call reported.
        self._called: float | None = None
        self._written: float | None = None
        self._ready = False

    @property
    def name(self) -> str:
        return self._name

    def beat(self, *, ready: bool = True, force: bool = False, **detail: Any) -> None:
        """Note that the caller's loop went round; write the row at most every few seconds."""
        self._called, self._ready = time.monotonic(), ready
        now = utcnow()
        if not force and self._last is not None and now - self._last < self._every:
            return
        self._last = now
        self._write(now, ready, detail)
        self._written = time.monotonic()

    def beaten_within(self, seconds: float) -> bool:
        """Whether `beat` was called in the last `seconds`: the process's loop is turning."""
        return self._called is not None and time.monotonic() - self._called < seconds

    def ready_within(self, seconds: float) -> bool:
        """Whether the loop turns, said it was ready, and its row was written in the last
        `seconds` (so the database is reachable)."""
        written = self._written is not None and time.monotonic() - self._written < seconds
        return written and self._ready and self.beaten_within(seconds)

    def _write(self, now: datetime, ready: bool, detail: dict[str, Any]) -> None:
        with transaction(self._factory) as session:
            row = session.get(WorkerHeartbeat, self._name)
            if row is None:
                row = WorkerHeartbeat(name=self._name, kind=self._kind, started_at=self._started)
                session.add(row)
            row.host, row.pid = socket.gethostname(), os.getpid()
            row.kind, row.beat_at, row.ready, row.detail = self._kind, now, ready, detail


def heartbeat_age(session: Session, name: str) -> timedelta | None:
    beat_at = session.scalar(select(WorkerHeartbeat.beat_at).where(WorkerHeartbeat.name == name))
    return None if beat_at is None else utcnow() - beat_at


def list_heartbeats(session: Session) -> list[WorkerHeartbeat]:
    return list(session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.name)))
