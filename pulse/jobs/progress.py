"""Progress events: what a run is doing, how fast, and how long it will take.

An event carries the whole state of one run (counts of every stage, per-stage done/total, the
current stage's records per second and ETA, the rate-limit wait), read from the `job_runs` row,
so a lost or reordered event is repaired by the next one. Events are published to the
`etl.progress` topic exchange with routing key `tenant.<id>.job.<id>`, coalesced to at most one
per `PROGRESS_INTERVAL_MS` per run (an end-of-run event is never held back).

* The scheduler's maintenance pass publishes them for every active run (it recounts the later
  stages from the rows anyway); `ProgressReporter` lets any stage process publish right after
  it commits, for lower latency.
* `ProgressFeed` is the subscriber side: the CLI, the benchmark and the web use it.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from dataflows.rabbitmq.progress import ProgressSubscriber, progress_binding, progress_routing_key
from pulse.errors import PulseError
from pulse.lifecycle import Closing
from pulse.messages import MessageError
from storage.run_progress import RunCounts, count_runs
from storage.run_state import TERMINAL_RUN_STATES
from storage.scheduling import runs_by_id
from storage.schema import JobRun, utcnow

log = logging.getLogger(__name__)

STAGES = ("extract", "transform", "load", "vectorize")
SCHEMA_VERSION = 1
_RATE_WINDOW = 10.0  # seconds of samples behind a records/s figure

# (routing key, body) → published (or raises)
Send = Callable[[str, bytes], None]


@dataclass(frozen=True, slots=True)
class StageProgress:
    done: int
    total: int | None  # None: not known yet


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    tenant_id: int
    job_id: int
    integration_id: int
    job_run_id: int
    state: str
    stage: str | None
    extracted: int
    transformed: int
    loaded: int
    vectorized: int
    failed: int
    total_expected: int | None
    stages: dict[str, StageProgress]
    rate: float | None  # records per second of the current stage
    eta_seconds: float | None  # of the current stage, when its total is known
    rate_limited_until: datetime | None
    error: str | None
    observed_at: datetime  # when the counts were read from the database
    schema_version: int = SCHEMA_VERSION

    @property
    def routing_key(self) -> str:
        return progress_routing_key(self.tenant_id, self.job_id)

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_RUN_STATES

    def content(self) -> tuple[Any, ...]:
        """What a viewer would see change (not the clock, not the rate's noise)."""
        return (
            self.state,
            self.stage,
            self.extracted,
            self.transformed,
            self.loaded,
            self.vectorized,
            self.failed,
            self.total_expected,
            tuple(sorted((k, v.done, v.total) for k, v in self.stages.items())),
            self.rate_limited_until,
            self.error,
        )

    def to_json(self) -> bytes:
        data = asdict(self)
        for name in ("rate_limited_until", "observed_at"):
            value = getattr(self, name)
            data[name] = None if value is None else value.isoformat()
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, body: bytes) -> ProgressEvent:
        try:
            data = json.loads(body)
            data["stages"] = {k: StageProgress(**v) for k, v in data["stages"].items()}
            for name in ("rate_limited_until", "observed_at"):
                if data[name] is not None:
                    data[name] = datetime.fromisoformat(data[name])
            return cls(**data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise MessageError(f"not a progress event: {exc!r}") from None


@dataclass(frozen=True, slots=True)
class _Shown:
    """The counts an event shows: the run row's, or fresher ones counted from the rows."""

    extracted: int
    transformed: int
    loaded: int
    vectorized: int
    failed: int

    @classmethod
    def of(cls, run: JobRun, counts: RunCounts | None) -> _Shown:
        if counts is None or run.stage in (None, "extract"):
            return cls(run.extracted, run.transformed, run.loaded, run.vectorized, run.failed)
        return cls(run.extracted, counts.processed, counts.facts, counts.embedded, counts.dead)


def stage_progress(run: JobRun, counts: RunCounts | None = None) -> dict[str, StageProgress]:
    """Per stage: what is done out of what the previous stage produced (the bars of the CLI
    and the web). "transform" counts raw records through transform *and* load (the load stage
    marks them processed); "load" counts facts written, whose total is known once every raw
    record is processed; "vectorize" counts facts whose current content is embedded. With
    `counts` (from `storage.run_progress`), the later stages' figures are those, not the row's."""
    shown = _Shown.of(run, counts)
    if run.state == "succeeded":
        done = (shown.extracted, shown.transformed, shown.loaded, shown.vectorized)
        return {name: StageProgress(d, d) for name, d in zip(STAGES, done, strict=True)}
    past_extract = run.stage in ("transform", "load", "vectorize")
    extract_total = shown.extracted if past_extract else run.total_expected
    if extract_total is not None:
        extract_total = max(extract_total, shown.extracted)
    if counts is not None:
        all_processed = past_extract and counts.unprocessed == 0
        embeddable: int | None = counts.embeddable
    else:
        all_processed = run.stage == "vectorize"
        embeddable = shown.loaded if all_processed else None
    return {
        "extract": StageProgress(shown.extracted, extract_total),
        "transform": StageProgress(shown.transformed, shown.extracted),
        "load": StageProgress(shown.loaded, shown.loaded if all_processed else None),
        "vectorize": StageProgress(shown.vectorized, embeddable),
    }


def _current(stage: str | None, stages: Mapping[str, StageProgress]) -> StageProgress | None:
    if stage == "load":  # the raw records moving through transform+load drive this phase
        return stages["transform"]
    return stages.get(stage or "")


class RateTracker:
    """Records per second of each run's current stage, over the last few seconds of samples
    (a stage change starts over). Lives in the publishing process."""

    def __init__(self, window: float = _RATE_WINDOW) -> None:
        self._window = window
        self._samples: dict[int, tuple[str | None, deque[tuple[float, int]]]] = {}

    def observe(self, run_id: int, stage: str | None, done: int, at: float) -> float | None:
        kept = self._samples.get(run_id)
        if kept is None or kept[0] != stage:
            kept = (stage, deque())
            self._samples[run_id] = kept
        samples = kept[1]
        if not samples or samples[-1][1] != done or at - samples[-1][0] >= 1.0:
            samples.append((at, done))
        while len(samples) > 2 and at - samples[0][0] > self._window:
            samples.popleft()
        first_at, first_done = samples[0]
        span = at - first_at
        if span < 0.5:
            return None
        return max(done - first_done, 0) / span

    def forget(self, run_id: int) -> None:
        self._samples.pop(run_id, None)


def build_event(
    run: JobRun,
    *,
    counts: RunCounts | None = None,
    rates: RateTracker | None = None,
    now: float | None = None,
) -> ProgressEvent:
    stages = stage_progress(run, counts)
    current = _current(run.stage, stages)
    rate = eta = None
    if rates is not None and current is not None and run.state == "running":
        rate = rates.observe(
            run.id, run.stage, current.done, time.monotonic() if now is None else now
        )
        if rate and current.total is not None:
            eta = max(current.total - current.done, 0) / rate
    shown = _Shown.of(run, counts)
    return ProgressEvent(
        tenant_id=run.tenant_id,
        job_id=run.job_id,
        integration_id=run.integration_id,
        job_run_id=run.id,
        state=run.state,
        stage=run.stage,
        extracted=shown.extracted,
        transformed=shown.transformed,
        loaded=shown.loaded,
        vectorized=shown.vectorized,
        failed=shown.failed,
        total_expected=run.total_expected,
        stages=stages,
        rate=None if rate is None else round(rate, 2),
        eta_seconds=None if eta is None else round(eta, 1),
        rate_limited_until=run.rate_limited_until if run.state == "rate_limited" else None,
        error=run.error,
        observed_at=utcnow(),
    )


@dataclass(slots=True)
class _Slot:
    last_sent_at: float = float("-inf")
    last_content: tuple[Any, ...] | None = None
    pending: ProgressEvent | None = None


@dataclass
class ProgressEmitter:
    """Coalesces events per run: at most one per `min_interval` seconds, the newest wins, an
    unchanged run sends nothing, a run's final event goes out at once. A failed send is logged
    and dropped (events are hints; the next one carries the whole state again)."""

    send: Send
    min_interval: float = 0.25
    clock: Callable[[], float] = time.monotonic
    sent: int = 0
    failures: int = 0
    _slots: dict[int, _Slot] = field(default_factory=dict)

    def offer(self, event: ProgressEvent) -> None:
        slot = self._slots.setdefault(event.job_run_id, _Slot())
        if event.content() == slot.last_content:
            slot.pending = None
            return
        now = self.clock()
        if event.finished or now - slot.last_sent_at >= self.min_interval:
            self._send(slot, event, now)
            if event.finished:
                del self._slots[event.job_run_id]
        else:
            slot.pending = event

    def flush_due(self) -> None:
        now = self.clock()
        for slot in self._slots.values():
            if slot.pending is not None and now - slot.last_sent_at >= self.min_interval:
                self._send(slot, slot.pending, now)

    def _send(self, slot: _Slot, event: ProgressEvent, now: float) -> None:
        slot.pending = None
        slot.last_sent_at = now
        slot.last_content = event.content()
        try:
            self.send(event.routing_key, event.to_json())
            self.sent += 1
        except PulseError as exc:
            self.failures += 1
            log.warning("progress event for run %s not sent: %s", event.job_run_id, exc)


class ProgressReporter:
    """For stage processes: `report(run_ids)` right after a commit reads those runs' rows
    (recounting the later stages from the rows, as the scheduler does) and offers their events
    (coalesced). Call `flush()` from time to time (e.g. once per batch)
    so an event held back by the interval still goes out."""

    def __init__(self, factory: sessionmaker[Session], emitter: ProgressEmitter) -> None:
        self._factory = factory
        self._emitter = emitter
        self._rates = RateTracker()

    def report(self, run_ids: Iterable[int]) -> None:
        ids = sorted({run for run in run_ids if run is not None})
        if not ids:
            self._emitter.flush_due()
            return
        with self._factory() as session:
            runs = runs_by_id(session, ids)
            later = [(r.tenant_id, r.id) for r in runs if r.stage not in (None, "extract")]
            counts = count_runs(session, later)
        for run in runs:
            self._emitter.offer(build_event(run, counts=counts.get(run.id), rates=self._rates))
            if run.state in TERMINAL_RUN_STATES:
                self._rates.forget(run.id)
        self._emitter.flush_due()

    def flush(self) -> None:
        self._emitter.flush_due()


class ProgressFeed(Closing):
    """Decoded progress events of one job, one tenant or all, for as long as it is open."""

    def __init__(
        self,
        url: str,
        *,
        tenant_id: int | None = None,
        job_id: int | None = None,
        name: str = "progress-feed",
    ) -> None:
        self._subscriber = ProgressSubscriber(url, progress_binding(tenant_id, job_id), name=name)

    def next(self, timeout: float) -> ProgressEvent | None:
        """The next event, or None when none came within `timeout` seconds. A malformed event
        is logged and skipped."""
        deadline = time.monotonic() + timeout
        while True:
            got = self._subscriber.get(max(deadline - time.monotonic(), 0.0))
            if got is None:
                return None
            try:
                return ProgressEvent.from_json(got[1])
            except MessageError as exc:
                log.warning("skipping a malformed progress event on %r: %s", got[0], exc)

    def close(self) -> None:
        self._subscriber.close()
