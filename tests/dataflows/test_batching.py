"""The per-tenant window: size and max-delay flushes, newest-version dedupe, in a real flow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from dataflows.batching import TenantWindow, WindowBatch


def _rec(raw_id: int, external_id: str, version: str, tenant: int = 1) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "integration_id": 7,
        "entity": "jira.issue",
        "raw_id": raw_id,
        "external_id": external_id,
        "version": version,
    }


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_flushes_at_max_size_and_keeps_newest_version() -> None:
    window = TenantWindow(None, max_size=2, max_delay=timedelta(seconds=1), now=Clock())
    out, discard = window.on_batch(
        [
            _rec(1, "a", "2024-01-01T00:00:00Z"),
            _rec(2, "a", "2024-01-02T00:00:00Z"),  # newer: replaces raw 1
            _rec(3, "a", "2023-12-31T00:00:00Z"),  # older: superseded at once
            _rec(4, "b", "2024-01-01T00:00:00Z"),
            _rec(5, "c", "2024-01-01T00:00:00Z"),
        ]
    )
    batches = list(out)
    assert len(batches) == 1
    assert [r["raw_id"] for r in batches[0].records] == [2, 4]
    assert sorted(batches[0].superseded_raw_ids) == [1, 3]
    assert discard is False  # "c" is still open
    assert [r["raw_id"] for r in window.snapshot().records.values()] == [5]


def test_max_delay_counts_from_the_first_record_not_the_last() -> None:
    clock = Clock()
    window = TenantWindow(None, max_size=100, max_delay=timedelta(seconds=1), now=clock)
    window.on_batch([_rec(1, "a", "2024-01-01T00:00:00Z")])
    first_deadline = window.notify_at()
    clock.now += timedelta(milliseconds=900)
    window.on_batch([_rec(2, "b", "2024-01-01T00:00:00Z")])  # a steady trickle
    assert window.notify_at() == first_deadline
    out, discard = window.on_notify()
    assert [len(b.records) for b in out] == [2]
    assert discard is True


def test_snapshot_is_a_copy_and_restores() -> None:
    window = TenantWindow(None, max_size=10, max_delay=timedelta(seconds=1), now=Clock())
    window.on_batch([_rec(1, "a", "2024-01-01T00:00:00Z")])
    snap = window.snapshot()
    window.on_batch([_rec(2, "b", "2024-01-01T00:00:00Z")])
    assert list(snap.records) == [(7, "jira.issue", "a")]
    restored = TenantWindow(snap, max_size=10, max_delay=timedelta(seconds=1), now=Clock())
    out, _ = restored.on_eof()
    assert [r["raw_id"] for b in out for r in b.records] == [1]


def _flow(records: list[dict[str, Any]], out: list[tuple[str, WindowBatch]]) -> Dataflow:
    flow = Dataflow("window_test")
    stream = op.input("in", flow, TestingSource(records))
    keyed = op.key_on("key_tenant", stream, lambda r: str(r["tenant_id"]))
    windows = op.stateful_batch(
        "tenant_window",
        keyed,
        lambda state: TenantWindow(state, max_size=3, max_delay=timedelta(seconds=5)),
    )
    op.output("out", windows, TestingSink(out))
    return flow


def test_in_a_dataflow_tenants_are_windowed_apart() -> None:
    records = [
        _rec(i, f"x{i % 5}", f"2024-01-0{1 + i % 3}T00:00:00Z", tenant=1 + i % 2) for i in range(20)
    ]
    out: list[tuple[str, WindowBatch]] = []
    run_main(_flow(records, out))
    for tenant, batch in out:
        assert {r["tenant_id"] for r in batch.records} == {int(tenant)}
        assert len(batch.records) <= 3
    seen = {(t, r["raw_id"]) for t, b in out for r in b.records}
    superseded = {(t, i) for t, b in out for i in b.superseded_raw_ids}
    # Every input record is either emitted or reported superseded, exactly once.
    assert len(seen) + len(superseded) == len(records)
    assert not seen & superseded


def test_two_workers_give_the_same_windows_per_tenant() -> None:
    from bytewax.testing import cluster_main

    records = [_rec(i, f"x{i % 7}", "2024-01-01T00:00:00Z", tenant=1 + i % 4) for i in range(40)]
    single: list[tuple[str, WindowBatch]] = []
    multi: list[tuple[str, WindowBatch]] = []
    run_main(_flow(records, single))
    cluster_main(_flow(records, multi), [], 0, worker_count_per_proc=2)

    def emitted(out: list[tuple[str, WindowBatch]]) -> set[tuple[str, int]]:
        return {(t, r["raw_id"]) for t, b in out for r in b.records}

    assert emitted(multi) == emitted(single)
    assert {t for t, _ in multi} == {"1", "2", "3", "4"}
