"""The stage functions the dataflows and the embedded pipeline share: a cancelled run's
records are dropped (yet processed) by the transform and by the load, a replayed dead item is
stored once, and one refused message in a load batch is dead-lettered while the others load."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from dataflows.batching import WindowBatch
from dataflows.dead_letters import DeadLetterWriter
from dataflows.load import LoadStage
from dataflows.records import DeadItem
from dataflows.tenant_configs import TenantConfigs
from dataflows.transform import transform_window
from pulse.messages import LoadMessage
from storage.db import session_factory, transaction
from storage.repositories import jobs
from storage.schema import DeadLetter, WorkItem
from tests.dataflows.pipeline.env import jira_issue, plain_tenant, raw_record


def _records(tenant_id: int, integration_id: int, run: int | None, numbers: range) -> list[dict]:
    return [
        {
            "tenant_id": tenant_id,
            "integration_id": integration_id,
            "job_run_id": run,
            "entity": "jira.issue",
            **raw_record(n, jira_issue(n)),
        }
        for n in numbers
    ]


def test_a_cancelled_runs_records_are_dropped_but_marked_processed(pg_engine: Engine) -> None:
    factory = session_factory(pg_engine)
    acme = plain_tenant(factory, "Acme")
    config = TenantConfigs(factory).get(acme.id)
    records = [
        *_records(acme.id, acme.jira_id, 7, range(1, 4)),
        *_records(acme.id, acme.jira_id, 8, range(4, 6)),
    ]
    result = transform_window(acme.id, WindowBatch(records), config, cancelled_runs={7})
    assert result.dropped == 3
    assert [o["work_items"][0]["key"] for o in result.load.outputs] == ["PUL-4", "PUL-5"]
    assert sorted(result.load.raw_ids) == [1, 2, 3, 4, 5]  # dropped ones still processed
    assert result.load.job_run_ids == [8]


def test_a_load_drops_the_records_of_a_run_cancelled_after_their_transform(
    any_engine: Engine,
) -> None:
    factory = session_factory(any_engine)
    acme = plain_tenant(factory, "Acme")
    with transaction(factory) as session:
        job = jobs.ensure_job(session, acme.id, acme.jira_id)
        run = jobs.start_run(session, acme.id, job.id)
        assert run is not None
        run_id = run.id
    config = TenantConfigs(factory).get(acme.id)
    windows = [
        WindowBatch(_records(acme.id, acme.jira_id, run_id, range(1, 4))),
        WindowBatch(_records(acme.id, acme.jira_id, None, range(4, 6))),
    ]
    messages = [transform_window(acme.id, window, config).load for window in windows]
    with transaction(factory) as session:  # cancelled while its messages wait for the load
        assert jobs.request_cancel(session, acme.id, run_id) is not None

    LoadStage(factory, DeadLetterWriter(factory)).load(acme.id, messages)

    with factory() as session:
        keys = sorted(session.scalars(select(WorkItem.key)))
    assert keys == ["PUL-4", "PUL-5"]


def test_a_replayed_dead_item_is_stored_once(pg_engine: Engine) -> None:
    factory = session_factory(pg_engine)
    acme = plain_tenant(factory, "Acme")
    item = DeadItem(
        stage="transform",
        source_queue="etl.raw.3",
        error="offset 12: not JSON",
        message="{truncated",
        tenant_id=acme.id,
    )
    writer = DeadLetterWriter(factory)
    assert writer.write([item]) == 1
    assert writer.write([item]) == 0  # the epoch replayed after a crash
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(DeadLetter)) == 1


def test_one_refused_message_is_dead_lettered_and_the_rest_of_the_batch_loads(
    pg_engine: Engine,
) -> None:
    factory = session_factory(pg_engine)
    acme, globex = plain_tenant(factory, "Acme"), plain_tenant(factory, "Globex")
    config = TenantConfigs(factory).get(acme.id)
    good = [
        transform_window(
            acme.id, WindowBatch(_records(acme.id, acme.jira_id, None, range(n, n + 5))), config
        ).load
        for n in (1, 6)
    ]
    stray = transform_window(
        acme.id, WindowBatch(_records(acme.id, acme.jira_id, None, range(11, 12))), config
    ).load
    stray.outputs[0]["work_items"][0]["tenant_id"] = globex.id  # a row of another tenant
    messages = [good[0], LoadMessage(acme.id, stray.outputs, raw_ids=[11]), good[1]]

    counts = LoadStage(factory, DeadLetterWriter(factory)).load(acme.id, messages)

    assert counts.dead == 1
    with factory() as session:
        keys = sorted(session.scalars(select(WorkItem.key)))
        letters = list(session.scalars(select(DeadLetter)))
    assert keys == sorted(f"PUL-{n}" for n in range(1, 11))
    assert [(d.stage, d.tenant_id) for d in letters] == [("load", acme.id)]
    assert "belongs to tenant" in letters[0].error
