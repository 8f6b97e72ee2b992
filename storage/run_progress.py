"""What each stage has done for a run, counted from committed rows — never from messages, so a
replayed message can never move a count, and "finished" means the rows are there.

* transform/load: the run's raw records, and how many of them the load stage marked processed
  (it does so in the transaction that commits their facts, or when they were dead-lettered);
* load: the facts (work items, pull requests) whose `last_job_run_id` is the run;
* vectorize: those facts with content to embed (a content hash, not deleted at the source),
  and how many of them have a `vector_points` row for that very content hash.

One grouped query per table for all the runs asked about, so a scheduler tick costs the same
whether one run or fifty are in flight.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from storage.schema import DeadLetter, JobRun, PullRequest, RawRecord, VectorPoint, WorkItem

_FACTS: dict[str, type[WorkItem] | type[PullRequest]] = {
    "work_item": WorkItem,
    "pull_request": PullRequest,
}


@dataclass(frozen=True, slots=True)
class RunCounts:
    run_id: int
    raw: int = 0  # raw records the run stored
    processed: int = 0  # of which the load stage has processed
    facts: int = 0  # work items + pull requests the run loaded last
    embeddable: int = 0  # of which have content to embed
    embedded: int = 0  # of which have a vector for their current content
    dead: int = 0  # dead letters of the run

    @property
    def unprocessed(self) -> int:
        return self.raw - self.processed

    @property
    def unembedded(self) -> int:
        return self.embeddable - self.embedded


def count_runs(session: Session, runs: Collection[tuple[int, int]]) -> dict[int, RunCounts]:
    """`runs` is (tenant id, run id) pairs; the tenant lets the fact queries use their
    (tenant_id, last_job_run_id) indexes."""
    if not runs:
        return {}
    run_ids = sorted({run for _, run in runs})
    tenants = sorted({tenant for tenant, _ in runs})
    found: dict[int, dict[str, int]] = {run: {} for run in run_ids}

    raw = session.execute(
        select(
            RawRecord.job_run_id,
            func.count(),
            func.count(RawRecord.processed_at),
        )
        .where(RawRecord.job_run_id.in_(run_ids))
        .group_by(RawRecord.job_run_id)
    )
    for run, total, processed in raw:
        if run is not None:
            found[run].update(raw=total, processed=processed)

    for entity, model in _FACTS.items():
        embeddable = and_(model.content_hash.is_not(None), model.deleted_at.is_(None))
        current = and_(
            VectorPoint.tenant_id == model.tenant_id,
            VectorPoint.integration_id == model.integration_id,
            VectorPoint.entity == entity,
            VectorPoint.record_external_id == model.external_id,
            VectorPoint.content_hash == model.content_hash,
        )
        rows = session.execute(
            select(
                model.last_job_run_id,
                func.count(),
                func.count().filter(embeddable),
                func.count(VectorPoint.id).filter(embeddable),
            )
            .outerjoin(VectorPoint, current)
            .where(model.tenant_id.in_(tenants), model.last_job_run_id.in_(run_ids))
            .group_by(model.last_job_run_id)
        )
        for run, facts, with_content, with_vector in rows:
            if run is None:
                continue
            counts = found[run]
            counts["facts"] = counts.get("facts", 0) + facts
            counts["embeddable"] = counts.get("embeddable", 0) + with_content
            counts["embedded"] = counts.get("embedded", 0) + with_vector

    dead = session.execute(
        select(DeadLetter.job_run_id, func.count())
        .where(DeadLetter.job_run_id.in_(run_ids))
        .group_by(DeadLetter.job_run_id)
    )
    for run, count in dead:
        if run is not None:
            found[run]["dead"] = count
    return {run: RunCounts(run, **counts) for run, counts in found.items()}


def store_counts(
    session: Session, counts: RunCounts, *, stage: str, progressed_at: datetime
) -> None:
    """Write the counts and the stage onto the running run, with `progressed_at` (the time
    something moved), which the watchdog measures stalls from."""
    session.execute(
        update(JobRun)
        .where(JobRun.id == counts.run_id, JobRun.state == "running")
        .values(
            stage=stage,
            transformed=counts.processed,
            loaded=counts.facts,
            vectorized=counts.embedded,
            failed=counts.dead,
            heartbeat_at=progressed_at,
        )
    )
