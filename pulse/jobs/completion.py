"""Deterministic completion: a run is finished when every stage has processed what the previous
stage produced for it, counted from rows — never when some "last item" message arrives.

A run whose extract is over (stage transform, load or vectorize) is finished when
1. every raw record it stored is processed (the load stage committed its facts, or it was
   dead-lettered), and
2. every fact it loaded last that has content to embed (a content hash, not deleted at the
   source) has a `vector_points` row with that same content hash.

Until then its stage says which stage is behind, and its counts and `heartbeat_at` (the last
time anything moved, which the watchdog reads) are written back to the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from storage import run_state
from storage.run_progress import RunCounts, count_runs, store_counts
from storage.schema import JobRun

DOWNSTREAM_STAGES = ("transform", "load", "vectorize")


@dataclass(frozen=True, slots=True)
class Assessment:
    stage: str | None  # the stage still behind; None: the run is finished
    waiting_for: str  # what it waits for, in words (the watchdog's error quotes it)


def assess(counts: RunCounts) -> Assessment:
    if counts.unprocessed:
        stage = "load" if counts.processed else "transform"
        return Assessment(
            stage,
            f"{counts.unprocessed} of {counts.raw} raw records not yet transformed and loaded",
        )
    if counts.unembedded:
        return Assessment(
            "vectorize",
            f"{counts.unembedded} of {counts.embeddable} facts not yet embedded for their "
            "current content",
        )
    return Assessment(None, "nothing")


@dataclass(slots=True)
class CompletionPass:
    finished: list[int] = field(default_factory=list)
    counts: dict[int, RunCounts] = field(default_factory=dict)
    assessments: dict[int, Assessment] = field(default_factory=dict)


def check_completion(session: Session, runs: Sequence[JobRun], now: datetime) -> CompletionPass:
    """Recount every running run past extract, store its counts and stage, and succeed the
    ones that are finished. In the caller's transaction."""
    result = CompletionPass()
    due = [r for r in runs if r.state == "running" and r.stage in DOWNSTREAM_STAGES]
    result.counts = count_runs(session, [(r.tenant_id, r.id) for r in due])
    for run in due:
        counts = result.counts[run.id]
        verdict = assess(counts)
        result.assessments[run.id] = verdict
        moved = (run.transformed, run.loaded, run.vectorized, run.failed, run.stage) != (
            counts.processed,
            counts.facts,
            counts.embedded,
            counts.dead,
            verdict.stage,
        )
        if moved or verdict.stage is None:  # an unchanged run costs no write (and no lock)
            store_counts(session, counts, stage=verdict.stage or "vectorize", progressed_at=now)
        if verdict.stage is None:
            run_state.succeed_run(session, run.id)
            result.finished.append(run.id)
    return result
