"""Pipeline bookkeeping: raw store, checkpoints, outbox, jobs and runs, dead letters, vectors,
shared rate budgets and worker heartbeats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.schema.base import (
    Base,
    BigId,
    IdMixin,
    IntegrationMixin,
    JsonDoc,
    TimestampMixin,
    UTCDateTime,
    utcnow,
)

JOB_STATES = ("ready", "running", "rate_limited", "failed", "paused")
RUN_STATES = ("queued", "running", "rate_limited", "paused", "succeeded", "failed", "cancelled")
RUN_KINDS = ("incremental", "full", "replay", "reconcile")


class RawRecord(IdMixin, IntegrationMixin, Base):
    """One fetched entity, exactly as the source returned it. Never updated in place: a changed
    entity gets a new row, an identical re-fetch (same content hash) stores nothing."""

    __tablename__ = "raw_records"
    __table_args__ = (
        # The fetch of one version of one entity. Whether a fetch is stored at all is decided
        # against the entity's latest stored content hash (storage.raw_store), so an entity that
        # changes A → B → A stores the revert too (with its newer version).
        UniqueConstraint(
            "tenant_id",
            "integration_id",
            "entity",
            "external_id",
            "version",
            "content_hash",
            name="uq_raw_records_content",
        ),
        Index("ix_raw_records_latest", "tenant_id", "integration_id", "entity", "external_id"),
        Index("ix_raw_records_run", "job_run_id"),
        Index(
            "ix_raw_records_unprocessed",
            "fetched_at",
            postgresql_where=text("processed_at IS NULL"),
            sqlite_where=text("processed_at IS NULL"),
        ),
    )

    job_run_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("job_runs.id", ondelete="SET NULL")
    )
    entity: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Set by the load stage once the facts derived from this row are committed.
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ExtractCheckpoint(IdMixin, IntegrationMixin, TimestampMixin, Base):
    """Where a stream stands: the cursor of the next page (mid-run) and the watermark of the
    last finished run, per (integration, scope, entity)."""

    __tablename__ = "extract_checkpoints"
    __table_args__ = (UniqueConstraint("integration_id", "scope", "entity"),)

    scope: Mapped[str] = mapped_column(String(300))
    entity: Mapped[str] = mapped_column(String(64))
    job_run_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("job_runs.id", ondelete="SET NULL")
    )
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    finished: Mapped[bool] = mapped_column(Boolean, default=False)
    watermark: Mapped[datetime | None] = mapped_column(UTCDateTime())
    run_high_watermark: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pages: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(Integer, default=0)


class OutboxEntry(IdMixin, IntegrationMixin, Base):
    """A raw record waiting to be published to its stream partition; written in the same
    transaction as the raw row."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )

    job_run_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("job_runs.id", ondelete="SET NULL")
    )
    raw_id: Mapped[int] = mapped_column(BigId, ForeignKey("raw_records.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(64))
    partition: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Job(IdMixin, IntegrationMixin, TimestampMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "integration_id"),
        CheckConstraint(f"state IN {JOB_STATES!r}", name="state"),
        Index("ix_jobs_due", "enabled", "state", "next_run_at"),
    )

    schedule_interval_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    retry_interval_seconds: Mapped[int] = mapped_column(Integer, default=900)
    reconcile_interval_seconds: Mapped[int] = mapped_column(Integer, default=86_400)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(16), default="ready")
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_reconcile_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    watermark: Mapped[datetime | None] = mapped_column(UTCDateTime())
    backfill_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rate_limited_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_run_id: Mapped[int | None] = mapped_column(BigId)
    last_error: Mapped[str | None] = mapped_column(Text)


class JobRun(IdMixin, IntegrationMixin, Base):
    __tablename__ = "job_runs"
    __table_args__ = (
        CheckConstraint(f"state IN {RUN_STATES!r}", name="state"),
        CheckConstraint(f"kind IN {RUN_KINDS!r}", name="kind"),
        Index("ix_job_runs_job", "job_id", "id"),
        Index("ix_job_runs_tenant_state", "tenant_id", "state"),
    )

    job_id: Mapped[int] = mapped_column(BigId, ForeignKey("jobs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="incremental")
    state: Mapped[str] = mapped_column(String(16), default="queued")
    stage: Mapped[str | None] = mapped_column(String(16))  # extract | transform | load | vectorize
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    # The job's watermark when the run was created, for display; the streams read their own
    # per-scope watermarks from extract_checkpoints.
    since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rate_limited_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    # Stage counts, recomputed from committed rows (never incremented), and totals when known.
    extracted: Mapped[int] = mapped_column(BigInteger, default=0)
    transformed: Mapped[int] = mapped_column(BigInteger, default=0)
    loaded: Mapped[int] = mapped_column(BigInteger, default=0)
    vectorized: Mapped[int] = mapped_column(BigInteger, default=0)
    failed: Mapped[int] = mapped_column(BigInteger, default=0)
    total_expected: Mapped[int | None] = mapped_column(BigInteger)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)


class DeadLetter(IdMixin, TimestampMixin, Base):
    """A message or record a stage could not process, kept with its error for requeue or
    discard. The tenant is nullable because a poison message may not name one."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'requeued', 'discarded')", name="status"),
        Index("ix_dead_letters_tenant_status", "tenant_id", "status"),
    )

    tenant_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE")
    )
    integration_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("integrations.id", ondelete="CASCADE")
    )
    job_run_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("job_runs.id", ondelete="SET NULL")
    )
    stage: Mapped[str] = mapped_column(String(32))
    source_queue: Mapped[str | None] = mapped_column(String(200))
    entity: Mapped[str | None] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)  # the record or message as received
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="open")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class VectorPoint(IdMixin, IntegrationMixin, Base):
    __tablename__ = "vector_points"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id",
            "integration_id",
            "entity",
            "record_external_id",
            name="uq_vector_points_key",
        ),
        UniqueConstraint("point_id"),
    )

    entity: Mapped[str] = mapped_column(String(64))  # work_item | pull_request
    record_external_id: Mapped[str] = mapped_column(String(200))
    point_id: Mapped[str] = mapped_column(String(36))  # uuid5(tenant, entity, id)
    collection: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    embedded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RateBudgetRow(Base):
    """One budget per credential (keyed by a fingerprint, never the secret), shared by every
    job and process using that credential — across tenants by design."""

    __tablename__ = "rate_budgets"

    credential_fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    remaining: Mapped[int | None] = mapped_column(Integer)
    reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WorkerHeartbeat(Base):
    """Liveness of a long-running process, read by the web's health and queue pages."""

    __tablename__ = "worker_heartbeats"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # e.g. transform-shard-0
    kind: Mapped[str] = mapped_column(String(32))
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ready: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
