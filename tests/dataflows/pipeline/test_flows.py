"""The transform and load dataflows on Bytewax's testing source and sink, single and
multi-worker, against the real PostgreSQL (tenant configuration, facts, dead letters)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main
from sqlalchemy import Engine, func, select

from dataflows.dead_letters import DeadLetterSink, DeadLetterWriter
from dataflows.load import LoadStage
from dataflows.load_flow import LoadSink, build_load_flow
from dataflows.rabbitmq.stream_source import StreamMessage
from dataflows.records import DeadItem
from dataflows.tenant_configs import TenantConfigs
from dataflows.transform_flow import build_transform_flow
from pulse.messages import LoadMessage, VectorizeRequest
from storage.db import session_factory
from storage.schema import DeadLetter, WorkItem, WorkItemTransition
from tests.dataflows.pipeline.env import jira_issue, plain_tenant, raw_message, raw_record

Runner = Callable[[Any], None]
RUNNERS: dict[str, Runner] = {
    "one worker": run_main,
    "two workers": lambda flow: cluster_main(flow, [], 0, worker_count_per_proc=2),
}


def _transform(
    engine: Engine, messages: list[StreamMessage], run: Runner
) -> tuple[list[LoadMessage], list[DeadItem]]:
    factory = session_factory(engine)
    loads: list[tuple[str, LoadMessage]] = []
    dead: list[tuple[str, DeadItem]] = []
    flow = build_transform_flow(
        TestingSource(messages),
        TestingSink(loads),
        TestingSink(dead),
        TenantConfigs(factory),
        lambda runs: set(),
        batch_size=50,
        max_delay=timedelta(seconds=5),
    )
    run(flow)
    assert all(key == str(message.tenant_id) for key, message in loads)
    return [m for _, m in loads], [d for _, d in dead]


@pytest.mark.parametrize("runner", RUNNERS)
def test_transform_flow_windows_per_tenant_keeps_newest_and_diverts_bad_input(
    pg_engine: Engine, runner: str
) -> None:
    factory = session_factory(pg_engine)
    acme, globex = plain_tenant(factory, "Acme"), plain_tenant(factory, "Globex")
    broken = jira_issue(3)
    del broken["fields"]["created"]  # a payload the rules must refuse
    messages = [
        raw_message(acme, [raw_record(1, jira_issue(1, updated_hours=10))], offset=0),
        raw_message(globex, [raw_record(2, jira_issue(2))], offset=1),
        raw_message(acme, [raw_record(3, jira_issue(1, updated_hours=20))], offset=2),  # newer
        raw_message(acme, [raw_record(4, jira_issue(1, updated_hours=5))], offset=3),  # older
        StreamMessage(0, 4, b"{not json"),
        raw_message(acme, [{"external_id": "9", "version": "1", "payload": {}}], offset=5),
        raw_message(acme, [raw_record(6, broken)], offset=6),
    ]
    loads, dead = _transform(pg_engine, messages, RUNNERS[runner])

    by_tenant: dict[int, list[LoadMessage]] = {}
    for message in loads:
        by_tenant.setdefault(message.tenant_id, []).append(message)
    assert set(by_tenant) == {acme.id, globex.id}
    acme_rows = [o for m in by_tenant[acme.id] for o in m.outputs]
    assert [o["work_items"][0]["key"] for o in acme_rows] == ["PUL-1"]
    assert acme_rows[0]["work_items"][0]["raw_id"] == 3  # the newest version won
    assert all(r["tenant_id"] == acme.id for o in acme_rows for rows in o.values() for r in rows)
    assert sorted(i for m in by_tenant[acme.id] for i in m.raw_ids) == [1, 3, 4]
    assert [i for m in by_tenant[acme.id] for i in m.dead_raw_ids] == [6]
    globex_rows = [o for m in by_tenant[globex.id] for o in m.outputs]
    assert [o["work_items"][0]["tenant_id"] for o in globex_rows] == [globex.id]

    errors = sorted(d.error for d in dead)
    assert len(dead) == 3
    assert any("offset 4: not JSON" in e for e in errors)
    assert any("offset 5: record has no integer raw_id" in e for e in errors)
    assert any("fields.created" in e and d.raw_id == 6 for d in dead for e in [d.error])


@pytest.mark.parametrize("runner", RUNNERS)
def test_load_flow_writes_facts_and_dead_letters_a_poison_message(
    pg_engine: Engine, runner: str
) -> None:
    factory = session_factory(pg_engine)
    acme = plain_tenant(factory, "Acme")
    loads, _ = _transform(
        pg_engine,
        [raw_message(acme, [raw_record(n, jira_issue(n)) for n in range(1, 31)], offset=0)],
        run_main,
    )
    bodies = [m.to_json() for m in loads]
    messages = [StreamMessage(0, n, body) for n, body in enumerate(bodies)]
    messages.append(StreamMessage(0, len(messages), b'{"kind": "load"}'))
    requests: list[VectorizeRequest] = []

    def stage(name: str) -> tuple[LoadStage, Callable[[], None]]:
        return LoadStage(factory, DeadLetterWriter(factory), requests.extend), lambda: None

    flow = build_load_flow(
        TestingSource(messages), LoadSink(stage), DeadLetterSink(factory, rabbitmq_url=None)
    )
    RUNNERS[runner](flow)

    with factory() as session:
        items = session.scalar(select(func.count()).select_from(WorkItem))
        transitions = session.scalar(select(func.count()).select_from(WorkItemTransition))
        letters = list(session.scalars(select(DeadLetter)))
    assert items == 30
    assert transitions == 30 * 2  # To Do → In Progress → Done
    assert [(d.stage, d.source_queue) for d in letters] == [("load", "etl.load")]
    assert "unsupported schema_version" in letters[0].error
    assert sorted(x for r in requests for x in r.external_ids) == sorted(
        str(10_000 + n) for n in range(1, 31)
    )
