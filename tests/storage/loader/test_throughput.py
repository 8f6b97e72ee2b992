"""Throughput of one large batch on PostgreSQL: 2,000 issues with 15 transitions each (plus a
sprint membership), loaded new, loaded again as newer versions (children replaced), replayed;
and newer versions whose children did not change, which leaves the children alone."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from storage.loader import LoadBatch, LoadResult

from .payloads import issue
from .world import World

logger = logging.getLogger(__name__)

ISSUES = 2_000
_LOOP = ("In Progress", "Code Review", "Testing")
PATH = (*(_LOOP[n % 3] for n in range(14)), "Done")  # 15 transitions
# A floor far below what the COPY path does (see the report), to catch an accidental per-row
# statement without making the test flaky on a slow machine.
FLOOR_ROWS_PER_SECOND = 5_000


def _batch(world: World, updated: float, step_hours: float = 0.5) -> LoadBatch:
    payloads = (
        issue(n, path=PATH, sprints=[n % 5], updated=updated, step_hours=step_hours)
        for n in range(1, ISSUES + 1)
    )
    return world.batch(*world.records("jira.issue", payloads))


def _timed(load: Callable[[], LoadResult]) -> tuple[LoadResult, float]:
    started = time.perf_counter()
    result = load()
    return result, time.perf_counter() - started


@pytest.mark.slow
@pytest.mark.integration
def test_a_2000_issue_batch_loads_fast(
    pg_engine: Engine, record_property: Callable[[str, object], None]
) -> None:
    world = World(pg_engine)
    # The newer versions move every transition, so every child is replaced.
    first, second = _batch(world, 20), _batch(world, 30, step_hours=0.75)
    rows = sum(len(r) for r in first.rows.values())
    assert rows >= ISSUES * 16

    new, new_seconds = _timed(lambda: world.load(first))
    update, update_seconds = _timed(lambda: world.load(second))
    replay, replay_seconds = _timed(lambda: world.load(second))

    assert new.written["work_item_transitions"] == ISSUES * 15
    assert update.written["work_item_transitions"] == ISSUES * 15
    assert replay.total_written == 0
    same, same_seconds = _timed(lambda: world.load(_batch(world, 40, step_hours=0.75)))
    assert same.written["work_items"] == ISSUES
    assert same.written["work_item_transitions"] == 0
    figures = {
        "rows": rows,
        "new_rows_per_s": round(rows / new_seconds),
        "update_rows_per_s": round(rows / update_seconds),
        "replay_rows_per_s": round(rows / replay_seconds),
        "same_children_rows_per_s": round(rows / same_seconds),
    }
    for name, value in figures.items():
        record_property(name, value)
    logger.info("loader throughput: %s", figures)
    assert min(rows / new_seconds, rows / update_seconds) > FLOOR_ROWS_PER_SECOND, figures
