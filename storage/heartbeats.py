"""Worker liveness: each long-running process upserts its row every few seconds; health checks
and the web read the age of that row."""

from __future__ import annotations

import os
import socket
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

    def beat(self, *, ready: bool = True, force: bool = False, **detail: Any) -> None:
        now = utcnow()
        if not force and self._last is not None and now - self._last < self._every:
            return
        self._last = now
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
