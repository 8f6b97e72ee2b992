"""The raw store: one page per transaction, content-hash dedupe, outbox and sweeper."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, select, update

from connectors.base import RawItem
from storage import raw_store
from storage.db import session_factory, transaction
from storage.repositories import integrations, jobs, tenants
from storage.schema import OutboxEntry, RawRecord, utcnow
from tests.connectors.extract.env import CIPHER


def _setup(engine: Engine) -> tuple[int, int]:
    with transaction(session_factory(engine)) as session:
        tenant = tenants.create_tenant(session, "T")
        integration = integrations.create_integration(
            session,
            tenant.id,
            name="J",
            provider="jira",
            base_url="http://x",
            credentials=None,
            settings={},
            cipher=CIPHER,
        )
        jobs.ensure_job(session, tenant.id, integration.id)
        return tenant.id, integration.id


def _page(
    engine: Engine,
    tenant_id: int,
    integration_id: int,
    items: list[tuple[str, str, dict]],
    cursor: dict | None = None,
) -> raw_store.PageOutcome:
    with transaction(session_factory(engine)) as session:
        return raw_store.commit_page(
            session,
            tenant_id=tenant_id,
            integration_id=integration_id,
            job_run_id=None,
            scope="s",
            entity="jira.issue",
            items=[RawItem("jira.issue", x, v, p) for x, v, p in items],
            next_cursor=cursor,
            requests=1,
            high_watermark=None,
            partitions=16,
        )


def _count(engine: Engine, model: type) -> int:
    with session_factory(engine)() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_identical_refetch_stores_and_sends_nothing(any_engine: Engine) -> None:
    tenant_id, integration_id = _setup(any_engine)
    first = _page(
        any_engine,
        tenant_id,
        integration_id,
        [("1", "v1", {"a": 1}), ("2", "v1", {"b": 2})],
        {"p": 2},
    )
    again = _page(
        any_engine, tenant_id, integration_id, [("1", "v2", {"a": 1}), ("2", "v1", {"b": 2})]
    )
    assert (first.stored, again.stored, again.unchanged) == (2, 0, 2)
    assert _count(any_engine, RawRecord) == 2
    assert _count(any_engine, OutboxEntry) == 2
    with session_factory(any_engine)() as session:
        checkpoint = raw_store.load_checkpoint(session, integration_id, "s", "jira.issue")
        assert checkpoint is not None
        assert checkpoint.finished
        assert checkpoint.cursor is None
        assert checkpoint.pages == 2


def test_a_revert_to_earlier_content_is_stored_again(any_engine: Engine) -> None:
    tenant_id, integration_id = _setup(any_engine)
    for version, payload in (("v1", {"s": "A"}), ("v2", {"s": "B"}), ("v3", {"s": "A"})):
        _page(any_engine, tenant_id, integration_id, [("1", version, payload)])
    with session_factory(any_engine)() as session:
        versions = list(session.scalars(select(RawRecord.version).order_by(RawRecord.id)))
    assert versions == ["v1", "v2", "v3"]


def test_sweeper_requeues_only_the_latest_unprocessed_rows(any_engine: Engine) -> None:
    tenant_id, integration_id = _setup(any_engine)
    _page(any_engine, tenant_id, integration_id, [("1", "v1", {"x": 1}), ("2", "v1", {"x": 2})])
    _page(any_engine, tenant_id, integration_id, [("1", "v2", {"x": 10}), ("3", "v1", {"x": 3})])
    factory = session_factory(any_engine)
    long_ago = utcnow() - timedelta(hours=2)
    with transaction(factory) as session:
        session.execute(update(OutboxEntry).values(published_at=long_ago))
        session.execute(update(RawRecord).values(fetched_at=long_ago))
        three = session.scalar(select(RawRecord.id).where(RawRecord.external_id == "3"))
        assert three is not None
        raw_store.mark_processed(session, [three])
    with transaction(factory) as session:
        requeued = raw_store.requeue_stale(
            session, older_than=utcnow() - timedelta(minutes=15), partitions=16
        )
        again = raw_store.requeue_stale(
            session, older_than=utcnow() - timedelta(minutes=15), partitions=16
        )
    # Item 1's old version is superseded, item 3 is processed: items 1 (v2) and 2 remain.
    assert (requeued, again) == (2, 0)
    with session_factory(any_engine)() as session:
        pending = session.execute(
            select(RawRecord.external_id, RawRecord.version)
            .join(OutboxEntry, OutboxEntry.raw_id == RawRecord.id)
            .where(OutboxEntry.published_at.is_(None))
            .order_by(RawRecord.external_id)
        ).all()
    assert [tuple(p) for p in pending] == [("1", "v2"), ("2", "v1")]


def test_nul_characters_are_removed_so_postgresql_can_store_the_page(any_engine: Engine) -> None:
    tenant_id, integration_id = _setup(any_engine)
    _page(
        any_engine,
        tenant_id,
        integration_id,
        [("1", "v1", {"summary": "Done\x00", "l": ["a\x00b"]})],
    )
    with session_factory(any_engine)() as session:
        payload = session.scalar(select(RawRecord.payload))
    assert payload == {"summary": "Done", "l": ["ab"]}
