"""The raw store: one transaction per fetched page.

`commit_page` writes the page's new raw rows, its outbox rows and the stream's cursor checkpoint
together, so a worker killed at any moment either has the whole page (and resumes at the next
one) or none of it (and fetches it again). A fetch whose content equals the entity's latest
stored content stores nothing and sends nothing downstream.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol, cast

import orjson
from sqlalchemy import CursorResult, Text, func, insert, literal, select, tuple_, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session, aliased

from pulse.messages import partition_for
from storage.db import among
from storage.schema import ExtractCheckpoint, OutboxEntry, RawRecord, utcnow
from storage.schema.base import UTCDateTime


def without_nul(value: Any) -> Any:
    """The payload minus NUL characters. PostgreSQL text and JSONB cannot hold U+0000 (real Jira
    data carries it, e.g. at the end of a summary); it is the one change the raw store makes to
    what the source sent, so a page never fails on every retry for it."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


def _canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical(payload).encode()).hexdigest()


def storable(payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The payload as stored and its content hash, serialising it once. JSON writes U+0000 as
    an escape, so the text tells whether the (rare) NUL-removing copy is needed at all."""
    canonical = _canonical(payload)
    if "\\u0000" in canonical:
        payload = without_nul(payload)
        canonical = _canonical(payload)
    return payload, hashlib.sha256(canonical.encode()).hexdigest()


class FetchedItem(Protocol):
    """What the raw store needs of a fetched entity (`connectors.base.RawItem` is one)."""

    @property
    def entity(self) -> str: ...
    @property
    def external_id(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class PageOutcome:
    stored: int  # new raw rows (changed or new entities)
    unchanged: int  # fetched again with identical content


def latest_hashes(
    session: Session, tenant_id: int, integration_id: int, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The content hash of the newest stored row for each (entity, external_id)."""
    if not keys:
        return {}
    newest = (
        select(func.max(RawRecord.id))
        .where(
            RawRecord.tenant_id == tenant_id,
            RawRecord.integration_id == integration_id,
            tuple_(RawRecord.entity, RawRecord.external_id).in_(list(keys)),
        )
        .group_by(RawRecord.entity, RawRecord.external_id)
    )
    rows = session.execute(
        select(RawRecord.entity, RawRecord.external_id, RawRecord.content_hash).where(
            RawRecord.id.in_(newest)
        )
    )
    return {(e, x): h for e, x, h in rows}


def commit_page(
    session: Session,
    *,
    tenant_id: int,
    integration_id: int,
    job_run_id: int | None,
    scope: str,
    entity: str,
    items: Sequence[FetchedItem],
    next_cursor: Mapping[str, Any] | None,
    requests: int,
    high_watermark: datetime | None,
    partitions: int,
    publish: bool = True,
) -> PageOutcome:
    """Store one page. The caller's session transaction makes it atomic."""
    known = latest_hashes(
        session, tenant_id, integration_id, [(i.entity, i.external_id) for i in items]
    )
    fetched_at = utcnow()
    fresh: list[RawRecord] = []
    seen: dict[tuple[str, str], str] = {}
    for item in items:
        payload, digest = storable(item.payload)
        key = (item.entity, item.external_id)
        if known.get(key) == digest or seen.get(key) == digest:
            continue
        seen[key] = digest
        fresh.append(
            RawRecord(
                tenant_id=tenant_id,
                integration_id=integration_id,
                job_run_id=job_run_id,
                entity=item.entity,
                external_id=item.external_id,
                version=item.version,
                content_hash=digest,
                payload=payload,
                fetched_at=fetched_at,
            )
        )
    session.add_all(fresh)
    session.flush()
    if publish and fresh:
        partition = partition_for(tenant_id, partitions)
        session.add_all(
            OutboxEntry(
                tenant_id=tenant_id,
                integration_id=integration_id,
                job_run_id=job_run_id,
                raw_id=row.id,
                entity=row.entity,
                partition=partition,
                created_at=fetched_at,
            )
            for row in fresh
        )
    _save_cursor(
        session,
        tenant_id=tenant_id,
        integration_id=integration_id,
        job_run_id=job_run_id,
        scope=scope,
        entity=entity,
        cursor=next_cursor,
        requests=requests,
        high_watermark=high_watermark,
    )
    session.flush()
    return PageOutcome(stored=len(fresh), unchanged=len(items) - len(fresh))


def load_checkpoint(
    session: Session, integration_id: int, scope: str, entity: str
) -> ExtractCheckpoint | None:
    return session.scalar(
        select(ExtractCheckpoint).where(
            ExtractCheckpoint.integration_id == integration_id,
            ExtractCheckpoint.scope == scope,
            ExtractCheckpoint.entity == entity,
        )
    )


def _save_cursor(
    session: Session,
    *,
    tenant_id: int,
    integration_id: int,
    job_run_id: int | None,
    scope: str,
    entity: str,
    cursor: Mapping[str, Any] | None,
    requests: int,
    high_watermark: datetime | None,
) -> None:
    checkpoint = load_checkpoint(session, integration_id, scope, entity)
    if checkpoint is None:
        checkpoint = ExtractCheckpoint(
            tenant_id=tenant_id,
            integration_id=integration_id,
            scope=scope,
            entity=entity,
            pages=0,
            requests=0,
        )
        session.add(checkpoint)
    if checkpoint.job_run_id != job_run_id:
        checkpoint.pages, checkpoint.requests, checkpoint.run_high_watermark = 0, 0, None
    checkpoint.job_run_id = job_run_id
    checkpoint.cursor = dict(cursor) if cursor is not None else None
    checkpoint.finished = cursor is None
    checkpoint.pages = (checkpoint.pages or 0) + 1
    checkpoint.requests = (checkpoint.requests or 0) + requests
    if high_watermark is not None and (
        checkpoint.run_high_watermark is None or high_watermark > checkpoint.run_high_watermark
    ):
        checkpoint.run_high_watermark = high_watermark


def advance_watermarks(
    session: Session, integration_id: int, job_run_id: int, to: datetime
) -> None:
    """At the end of a successful run: every stream of the run is complete up to `to`."""
    session.execute(
        update(ExtractCheckpoint)
        .where(
            ExtractCheckpoint.integration_id == integration_id,
            ExtractCheckpoint.job_run_id == job_run_id,
            ExtractCheckpoint.finished.is_(True),
        )
        .values(watermark=to)
    )


class PendingRecord(NamedTuple):
    """An outbox row joined with its raw record: what the relay publishes."""

    outbox_id: int
    partition: int
    raw_id: int
    tenant_id: int
    integration_id: int
    job_run_id: int | None
    entity: str
    external_id: str
    version: str
    payload: orjson.Fragment  # the stored JSON text, spliced into the message as is


def pending_outbox(session: Session, limit: int) -> list[PendingRecord]:
    """The oldest unpublished outbox rows with their raw records, locked for this relay.
    Plain rows, not ORM objects: building objects cost the relay a third of its time. Payloads
    come as JSON text: decoding them only to encode them again into the message was most of
    what the relay did."""
    query = (
        select(
            OutboxEntry.id,
            OutboxEntry.partition,
            RawRecord.id,
            RawRecord.tenant_id,
            RawRecord.integration_id,
            RawRecord.job_run_id,
            RawRecord.entity,
            RawRecord.external_id,
            RawRecord.version,
            sql_cast(RawRecord.payload, Text),
        )
        .join(RawRecord, RawRecord.id == OutboxEntry.raw_id)
        .where(OutboxEntry.published_at.is_(None))
        .order_by(OutboxEntry.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=OutboxEntry)
    pending = []
    for row in session.execute(query):
        outbox, partition, raw, tenant, integration, run, entity, ident, version, payload = row
        pending.append(
            PendingRecord(
                outbox, partition, raw, tenant, integration, run, entity, ident, version,
                orjson.Fragment(payload),
            )
        )  # fmt: skip
    return pending


def mark_published(session: Session, outbox_ids: Sequence[int]) -> None:
    if outbox_ids:
        session.execute(
            update(OutboxEntry)
            .where(among(session.connection(), OutboxEntry.id, outbox_ids))
            .values(published_at=utcnow()),
            # Matching the IN list against every loaded object cost a third of the relay's time.
            execution_options={"synchronize_session": False},
        )


def requeue_stale(
    session: Session, *, older_than: datetime, partitions: int, limit: int = 10_000
) -> int:
    """The sweeper: the latest raw row of an entity, published before `older_than` but still
    not processed, gets a new outbox row. That also covers a stream whose retention expired
    during an outage. Transform and load are idempotent, so a record that was merely slow is
    harmlessly processed twice. Rows superseded by a newer fetch are left alone."""
    newer = aliased(RawRecord)
    pending = aliased(OutboxEntry)
    last_sent = (
        select(func.max(OutboxEntry.published_at))
        .where(OutboxEntry.raw_id == RawRecord.id)
        .scalar_subquery()
    )
    stale = session.execute(
        select(
            RawRecord.id,
            RawRecord.tenant_id,
            RawRecord.integration_id,
            RawRecord.job_run_id,
            RawRecord.entity,
        )
        .where(
            RawRecord.processed_at.is_(None),
            last_sent < older_than,
            ~select(pending.id)
            .where(pending.raw_id == RawRecord.id, pending.published_at.is_(None))
            .exists(),
            ~select(newer.id)
            .where(
                newer.tenant_id == RawRecord.tenant_id,
                newer.integration_id == RawRecord.integration_id,
                newer.entity == RawRecord.entity,
                newer.external_id == RawRecord.external_id,
                newer.id > RawRecord.id,
            )
            .exists(),
        )
        .order_by(RawRecord.id)
        .limit(limit)
    ).all()
    now = utcnow()
    session.add_all(
        OutboxEntry(
            tenant_id=tenant_id,
            integration_id=integration_id,
            job_run_id=job_run_id,
            raw_id=raw_id,
            entity=entity,
            partition=partition_for(tenant_id, partitions),
            created_at=now,
        )
        for raw_id, tenant_id, integration_id, job_run_id, entity in stale
    )
    session.flush()
    return len(stale)


def mark_processed(session: Session, raw_ids: Sequence[int]) -> None:
    """Called by the load stage in the transaction that commits the derived facts (and for
    records that ended in dead_letters), so the sweeper leaves them alone."""
    if raw_ids:
        session.execute(
            update(RawRecord)
            .where(
                among(session.connection(), RawRecord.id, raw_ids),
                RawRecord.processed_at.is_(None),
            )
            .values(processed_at=utcnow()),
            execution_options={"synchronize_session": False},
        )


def checkpoints_of(session: Session, integration_id: int) -> list[ExtractCheckpoint]:
    return list(
        session.scalars(
            select(ExtractCheckpoint).where(ExtractCheckpoint.integration_id == integration_id)
        )
    )


def load_site_facts(session: Session, integration_id: int, kind: str) -> dict[str, Any] | None:
    """Connector facts kept between runs (a Jira site's time zone and field ids)."""
    checkpoint = load_checkpoint(session, integration_id, "site", kind)
    return dict(checkpoint.cursor) if checkpoint is not None and checkpoint.cursor else None


def save_site_facts(
    session: Session, tenant_id: int, integration_id: int, kind: str, facts: Mapping[str, Any]
) -> None:
    checkpoint = load_checkpoint(session, integration_id, "site", kind)
    if checkpoint is None:
        checkpoint = ExtractCheckpoint(
            tenant_id=tenant_id, integration_id=integration_id, scope="site", entity=kind
        )
        session.add(checkpoint)
    checkpoint.cursor = dict(facts)
    checkpoint.finished = True
    checkpoint.watermark = utcnow()


def run_payloads(session: Session, job_run_id: int, entity: str) -> list[dict[str, Any]]:
    """Payloads a run stored for one entity (e.g. to resume a step that depends on them)."""
    rows = session.scalars(
        select(RawRecord.payload).where(
            RawRecord.job_run_id == job_run_id, RawRecord.entity == entity
        )
    )
    return [dict(p) for p in rows]


def queue_replay(
    session: Session,
    tenant_id: int,
    *,
    partitions: int,
    integration_id: int | None = None,
    entity: str | None = None,
) -> int:
    """Replay: the newest raw record of each of the tenant's items (optionally one integration
    or entity) goes back to the outbox and is marked unprocessed, so the relay re-sends it
    through transform and load with no API call. Returns how many were queued.

    Two set-based statements whatever the size. The records keep their job run, so the facts
    keep their lineage and runs' counts stay what they were."""
    latest = (
        select(func.max(RawRecord.id).label("raw_id"))
        .where(RawRecord.tenant_id == tenant_id)
        .group_by(RawRecord.integration_id, RawRecord.entity, RawRecord.external_id)
    )
    if integration_id is not None:
        latest = latest.where(RawRecord.integration_id == integration_id)
    if entity is not None:
        latest = latest.where(RawRecord.entity == entity)
    chosen = latest.subquery()
    now = utcnow()
    queued = session.execute(
        insert(OutboxEntry).from_select(
            [
                "tenant_id",
                "integration_id",
                "job_run_id",
                "raw_id",
                "entity",
                "partition",
                "created_at",
            ],
            select(
                RawRecord.tenant_id,
                RawRecord.integration_id,
                RawRecord.job_run_id,
                RawRecord.id,
                RawRecord.entity,
                literal(partition_for(tenant_id, partitions)),
                literal(now, UTCDateTime()),
            ).where(RawRecord.id.in_(select(chosen.c.raw_id))),
        ),
        # psycopg reports no rowcount for INSERT ... SELECT unless SQLAlchemy keeps it.
        execution_options={"preserve_rowcount": True},
    )
    session.execute(
        update(RawRecord).where(RawRecord.id.in_(select(chosen.c.raw_id))).values(processed_at=None)
    )
    session.flush()
    return int(cast("CursorResult[Any]", queued).rowcount or 0)


def unprocessed_count(session: Session, tenant_id: int) -> int:
    """Raw records of the tenant not yet processed by the load stage (replay progress)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(RawRecord)
            .where(RawRecord.tenant_id == tenant_id, RawRecord.processed_at.is_(None))
        )
        or 0
    )
