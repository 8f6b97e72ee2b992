"""Watching the demo's runs to their end: one terminal bar per stage (summed over the runs, on
stderr; tqdm hides them when stderr is not a terminal), read from the run rows, which are the
truth in both modes."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from pulse.errors import FatalError
from pulse.jobs import stage_progress
from pulse.jobs.progress import STAGES
from storage.repositories import jobs
from storage.run_state import TERMINAL_RUN_STATES
from storage.schema import JobRun

_POLL_SECONDS = 0.3


class StageBars:
    def __init__(self, out: TextIO) -> None:
        self._bars: dict[str, tqdm[Any]] = {
            stage: tqdm(
                desc=f"{stage:<9}", position=n, unit="rec", leave=True, disable=None, file=out
            )
            for n, stage in enumerate(STAGES)
        }

    def draw(self, runs: Sequence[JobRun]) -> None:
        per_run = [stage_progress(run) for run in runs]
        for stage, bar in self._bars.items():
            done = sum(p[stage].done for p in per_run)
            totals = [p[stage].total for p in per_run]
            total = None if any(t is None for t in totals) else sum(t or 0 for t in totals)
            if total is not None and bar.total != total:
                bar.total = total
            bar.n = done
            active = any(run.stage == stage and run.state == "running" for run in runs)
            bar.set_postfix_str("running" if active else "", refresh=False)
            bar.refresh()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


def watch_runs(
    factory: sessionmaker[Session],
    tenant_id: int,
    run_ids: Sequence[int],
    *,
    timeout: float,
    out: TextIO,
    check: Callable[[], None],
    finished: Callable[[], bool],
    on_poll: Callable[[Sequence[int]], None] | None = None,
) -> list[JobRun]:
    """Poll the runs until every one has ended. `check` raises when what executes them died;
    `finished` says that it is done, after which every run must have ended (read after)."""
    deadline = time.monotonic() + timeout
    bars = StageBars(out)
    try:
        while True:
            check()
            done_before = finished()
            with factory() as session:
                runs = [jobs.get_run(session, tenant_id, run_id) for run_id in run_ids]
            found = [run for run in runs if run is not None]
            if len(found) != len(run_ids):
                raise FatalError(f"a demo run disappeared (runs {list(run_ids)})")
            bars.draw(found)
            if on_poll is not None:
                on_poll(run_ids)
            if all(run.state in TERMINAL_RUN_STATES for run in found):
                return found
            if done_before:
                states = ", ".join(f"run {r.id} {r.state}/{r.stage}" for r in found)
                raise FatalError(f"the pipeline stopped with runs unfinished: {states}")
            if time.monotonic() > deadline:
                states = ", ".join(f"run {r.id} {r.state}/{r.stage}" for r in found)
                raise FatalError(f"the demo job did not finish within {timeout:.0f} s: {states}")
            time.sleep(_POLL_SECONDS)
    finally:
        bars.close()
