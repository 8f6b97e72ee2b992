"""The scheduler's SQL: which jobs are due, which rate-limited runs may go on, which runs are
active, and the leader lock that lets several schedulers run side by side.

Nothing here is reachable from a request: these functions work across tenants, for the
scheduler process only. The tenant-facing flips live in `storage.repositories.jobs`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from storage.repositories.jobs import ACTIVE_RUN_STATES, QueuedRun, start_run
from storage.schema import Integration, Job, JobRun

log = logging.getLogger(__name__)

_LEADER_LOCK = (0x50554C53, 0x5343)  # "PULS", "SC": one maintenance leader among schedulers


@dataclass(frozen=True, slots=True)
class Triggered:
    run: QueuedRun
    kind: str


def trigger_due_jobs(session: Session, now: datetime, *, limit: int = 100) -> list[Triggered]:
    """Start a run of every enabled job whose next run time has come. The candidates are
    locked with FOR UPDATE SKIP LOCKED, so schedulers on several machines split the due jobs
    between them instead of waiting on each other; `start_run`'s conditional UPDATE is what
    guarantees one run per job either way. A reconcile run (incremental + deletion sweep) is
    started instead when the job's reconcile time has come too."""
    due = session.execute(
        select(Job.id, Job.tenant_id, Job.next_reconcile_at, Job.reconcile_interval_seconds)
        .join(
            Integration,
            (Integration.id == Job.integration_id) & (Integration.tenant_id == Job.tenant_id),
        )
        .where(
            Job.enabled.is_(True),
            Job.state == "ready",
            Job.next_run_at.is_not(None),
            Job.next_run_at <= now,
            Integration.enabled.is_(True),
            Integration.active.is_(True),
        )
        .order_by(Job.next_run_at)
        .limit(limit)
        .with_for_update(of=Job, skip_locked=True)
    ).all()
    started: list[Triggered] = []
    for job_id, tenant_id, next_reconcile_at, reconcile_every in due:
        reconcile = next_reconcile_at is not None and next_reconcile_at <= now
        kind = "reconcile" if reconcile else "incremental"
        run = start_run(session, tenant_id, job_id, kind=kind)
        if run is None:
            continue
        if reconcile or next_reconcile_at is None:
            # The first run backfills anyway; the first sweep comes one interval later.
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(next_reconcile_at=now + timedelta(seconds=reconcile_every))
            )
        started.append(Triggered(QueuedRun(tenant_id, run.integration_id, run.id), kind))
    return started


def resume_rate_limited(session: Session, now: datetime) -> list[QueuedRun]:
    """Rate-limited runs whose reset time has come go back to the queue (the same run: it
    continues from its checkpoints). A rate-limited job without a waiting run (it was
    cancelled meanwhile) simply becomes ready."""
    jobs = session.execute(
        select(Job.id, Job.tenant_id, Job.integration_id, Job.last_run_id)
        .where(
            Job.state == "rate_limited",
            Job.rate_limited_until.is_not(None),
            Job.rate_limited_until <= now,
        )
        .with_for_update(of=Job, skip_locked=True)
    ).all()
    resumed: list[QueuedRun] = []
    for job_id, tenant_id, integration_id, run_id in jobs:
        requeued = session.scalar(
            update(JobRun)
            .where(JobRun.id == run_id, JobRun.state == "rate_limited")
            .values(state="queued", heartbeat_at=now, rate_limited_until=None)
            .returning(JobRun.id)
        )
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(state="running" if requeued else "ready", rate_limited_until=None)
        )
        if requeued is not None:
            resumed.append(QueuedRun(tenant_id, integration_id, requeued))
    return resumed


def active_runs(session: Session) -> list[JobRun]:
    """Every run not over yet, across tenants (a few hundred at most: one per job)."""
    return list(
        session.scalars(
            select(JobRun).where(JobRun.state.in_(ACTIVE_RUN_STATES)).order_by(JobRun.id)
        )
    )


def runs_by_id(session: Session, run_ids: Sequence[int]) -> list[JobRun]:
    if not run_ids:
        return []
    return list(session.scalars(select(JobRun).where(JobRun.id.in_(sorted(set(run_ids))))))


class LeaderLock:
    """A PostgreSQL session advisory lock held on a dedicated connection: the scheduler that
    holds it runs the maintenance pass (completion, watchdog, progress), the others only
    trigger due jobs. When the leader dies its connection closes, the lock is released and
    another scheduler takes over at its next tick. On SQLite (one process) it is always held."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None

    @property
    def held(self) -> bool:
        return self._connection is not None or self._engine.dialect.name != "postgresql"

    def acquire(self) -> bool:
        """Try to become (or check that we still are) the leader; never blocks."""
        if self._engine.dialect.name != "postgresql":
            return True
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT 1"))
                self._connection.commit()
                return True
            except DBAPIError:
                log.warning("lost the scheduler leader connection; will try to lead again")
                self._drop()
        connection = self._engine.connect()
        try:
            won = bool(
                connection.execute(
                    text("SELECT pg_try_advisory_lock(:a, :b)"),
                    {"a": _LEADER_LOCK[0], "b": _LEADER_LOCK[1]},
                ).scalar()
            )
            connection.commit()
        except DBAPIError:
            connection.close()
            raise
        if not won:
            connection.close()
            return False
        self._connection = connection
        log.info("this scheduler leads the maintenance pass")
        return True

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.execute(
                text("SELECT pg_advisory_unlock(:a, :b)"),
                {"a": _LEADER_LOCK[0], "b": _LEADER_LOCK[1]},
            )
            self._connection.commit()
        except DBAPIError:
            log.debug("releasing the leader lock failed; closing its connection frees it")
        self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except DBAPIError:
                log.debug("closing the leader connection failed", exc_info=True)
            self._connection = None
