"""The per-tenant window of the transform and load dataflows.

Bytewax's `collect` restarts its timeout on every item, so under a steady trickle it never
flushes. This logic flushes a tenant's window when it holds `max_size` distinct records or when
`max_delay` has passed since its FIRST record, whichever comes first. Within a window only the
newest version of each (integration, entity, external id) is kept; the raw ids it superseded
travel along so the load stage can mark them processed.

State is the open window only (it is snapshotted every epoch for every touched tenant), and the
logic is discarded after each flush so idle tenants cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bytewax.operators import StatefulBatchLogic

from pulse.messages import MessageError, version_micros

RecordKey = tuple[int, str, str]  # (integration_id, entity, external_id)


@dataclass(frozen=True, slots=True)
class WindowBatch:
    """A flushed window: at most one record per key, plus the raw ids superseded in it."""

    records: list[dict[str, Any]]
    superseded_raw_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class WindowState:
    opened_at: datetime | None = None
    records: dict[RecordKey, dict[str, Any]] = field(default_factory=dict)
    superseded: list[int] = field(default_factory=list)


def record_key(record: dict[str, Any]) -> RecordKey:
    return (int(record["integration_id"]), str(record["entity"]), str(record["external_id"]))


def _rank(record: dict[str, Any]) -> tuple[int, int]:
    try:
        version = version_micros(str(record["version"]))
    except MessageError:
        version = -1  # unparseable versions lose to any parseable one; the rule reports them
    return version, int(record.get("raw_id") or 0)


class TenantWindow(StatefulBatchLogic[dict[str, Any], WindowBatch, WindowState]):
    def __init__(
        self,
        state: WindowState | None,
        *,
        max_size: int,
        max_delay: timedelta,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._state = state or WindowState()
        self._max_size = max_size
        self._max_delay = max_delay
        self._now = now

    def on_batch(self, values: list[dict[str, Any]]) -> tuple[Iterable[WindowBatch], bool]:
        state = self._state
        if state.opened_at is None and values:
            state.opened_at = self._now()
        flushed: list[WindowBatch] = []
        for record in values:
            key = record_key(record)
            held = state.records.get(key)
            if held is None:
                if len(state.records) >= self._max_size:
                    flushed.append(self._flush())
                    state = self._state
                    state.opened_at = self._now()
                state.records[key] = record
            elif _rank(record) > _rank(held):
                state.superseded.append(int(held["raw_id"]))
                state.records[key] = record
            else:
                state.superseded.append(int(record["raw_id"]))
        if len(state.records) >= self._max_size:
            flushed.append(self._flush())
            return flushed, self.DISCARD
        return flushed, self.RETAIN

    def on_notify(self) -> tuple[Iterable[WindowBatch], bool]:
        if self._state.records:
            return [self._flush()], self.DISCARD
        return [], self.DISCARD

    def on_eof(self) -> tuple[Iterable[WindowBatch], bool]:
        # End of input in this execution (tests, bounded replays): flush what is open.
        return self.on_notify()

    def notify_at(self) -> datetime | None:
        if self._state.opened_at is None:
            return None
        return self._state.opened_at + self._max_delay

    def snapshot(self) -> WindowState:
        state = self._state
        return WindowState(state.opened_at, dict(state.records), list(state.superseded))

    def _flush(self) -> WindowBatch:
        state = self._state
        batch = WindowBatch(list(state.records.values()), list(state.superseded))
        self._state = WindowState()
        return batch
