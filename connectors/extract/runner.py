"""Runs one job run's extraction: every stream, page by page, each page in one transaction.

The runner never keeps progress in memory: before each stream it reads the stream's checkpoint,
so a run interrupted anywhere (kill -9, a lost broker connection, a rate-limit pause) continues
at the first page it had not committed. A finished page is never fetched again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session, sessionmaker

from connectors.base import Cursor, ExtractWindow, Stream
from pulse.errors import FatalError, RateLimitedError, RetriableError, SkippableError
from storage import deletions, raw_store, run_state
from storage.db import transaction
from storage.schema import Integration, Job, JobRun, utcnow

log = logging.getLogger(__name__)

# (integration, run, window) -> the run's streams in dependency order, as a context that
# releases their connections when the run is over.
StreamFactory = Callable[[Integration, JobRun, ExtractWindow], AbstractContextManager[list[Stream]]]


# Id-only sweeps for deletion reconciliation: applied to the facts, never stored as raw data.
SWEEP_ENTITIES = frozenset({"jira.issue_id", "github.pull_request_id"})


class Outcome(StrEnum):
    EXTRACTED = "extracted"  # every stream finished; later stages take over
    RATE_LIMITED = "rate_limited"  # paused until the budget resets; resumes from checkpoints
    CANCELLED = "cancelled"
    FAILED = "failed"  # a fatal error; the run shows it
    ALREADY_DONE = "already_done"


@dataclass(frozen=True, slots=True)
class RunResult:
    outcome: Outcome
    pages: int = 0
    stored: int = 0
    requests: int = 0
    detail: str = ""


class ExtractRunner:
    def __init__(
        self,
        factory: sessionmaker[Session],
        streams_for: StreamFactory,
        *,
        partitions: int,
        max_retries: int,
        publish: bool = True,
        on_page: Callable[[JobRun, Stream, int], None] | None = None,
    ) -> None:
        self._factory = factory
        self._streams_for = streams_for
        self._partitions = partitions
        self._max_retries = max_retries
        self._publish = publish
        self._on_page = on_page

    def run(self, run_id: int) -> RunResult:
        with transaction(self._factory) as session:
            run = run_state.claim_run(session, run_id)
            if run is None:
                raise FatalError(f"job run {run_id} does not exist", job_run_id=run_id)
            if run.state in run_state.TERMINAL_RUN_STATES or run.stage not in (None, "extract"):
                return RunResult(Outcome.ALREADY_DONE, detail=f"run is {run.state}/{run.stage}")
            integration = run_state.integration_of(session, run)
            started = run.started_at or utcnow()
            window = self._window(session, run, integration)
        try:
            with self._streams_for(integration, run, window) as streams:
                totals = RunResult(Outcome.EXTRACTED)
                for stream in streams:
                    if stream.key.entity in SWEEP_ENTITIES:
                        self._sweep(run, stream)
                        continue
                    try:
                        totals = self._drain(run, stream, totals)
                    except SkippableError as exc:
                        # e.g. a repository that disappeared mid-run: the stream ends, visibly.
                        self._record_skip(run, stream, exc)
                        continue
                    if totals.outcome is not Outcome.EXTRACTED:
                        return totals
        except RateLimitedError as exc:
            with transaction(self._factory) as session:
                run_state.mark_rate_limited(session, run_id, exc.resume_at, str(exc))
            log.info("run %s rate limited until %s", run_id, exc.resume_at.isoformat())
            return RunResult(Outcome.RATE_LIMITED, detail=str(exc))
        except RetriableError as exc:
            # Retries inside the HTTP layer are spent; the worker requeues the request and the
            # next attempt resumes from the checkpoints. The run shows why it is waiting.
            with transaction(self._factory) as session:
                run_state.note_error(session, run_id, str(exc))
            raise
        except FatalError as exc:
            with transaction(self._factory) as session:
                run_state.fail_run(session, run_id, str(exc), max_retries=self._max_retries)
            log.warning("run %s failed: %s", run_id, exc)
            return RunResult(Outcome.FAILED, detail=str(exc))
        with transaction(self._factory) as session:
            raw_store.advance_watermarks(session, integration.id, run_id, started)
            run_state.finish_extract(session, run_id, started)
        return totals

    def _sweep(self, run: JobRun, stream: Stream) -> None:
        """An id-only sweep, held in memory (ids are small; 5,000 per request) and applied only
        once complete: a partial sweep would make everything not reached yet look deleted. An
        interrupted sweep is simply redone by the next reconcile run."""
        present: set[str] = set()
        cursor: Cursor | None = None
        while True:
            page = stream.fetch_page(cursor)
            present.update(item.external_id for item in page.items)
            with transaction(self._factory) as session:
                run_state.add_extracted(session, run.id, 0, page.requests)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        with transaction(self._factory) as session:
            if stream.key.entity == "jira.issue_id":
                gone = deletions.mark_missing_work_items(
                    session, run.tenant_id, run.integration_id, present
                )
            else:
                repository = stream.key.scope.removeprefix("repo:")
                gone = deletions.mark_missing_pull_requests(
                    session, run.tenant_id, run.integration_id, repository, present
                )
        if gone:
            log.info("run %s: %s items of %s deleted at the source", run.id, len(gone), stream.key)

    def _record_skip(self, run: JobRun, stream: Stream, exc: SkippableError) -> None:
        log.warning("run %s: stream %s skipped: %s", run.id, stream.key, exc)
        with transaction(self._factory) as session:
            run_state.record_dead_letter(
                session,
                tenant_id=run.tenant_id,
                integration_id=run.integration_id,
                job_run_id=run.id,
                stage="extract",
                entity=stream.key.entity,
                external_id=stream.key.scope,
                message=f"stream {stream.key.entity} of scope {stream.key.scope}",
                error=str(exc),
            )

    def _window(self, session: Session, run: JobRun, integration: Integration) -> ExtractWindow:
        """Per-scope watermarks: a scope that never finished a run (a new repository, a
        changed project list) is backfilled — from the job's chosen start date, if any — while
        the others run incrementally from their own watermark. A full run backfills all."""
        job = session.get(Job, run.job_id)
        backfill_from = job.backfill_from if job is not None else None
        since_by_scope: dict[str, datetime | None] = {}
        if run.kind != "full":
            for checkpoint in raw_store.checkpoints_of(session, integration.id):
                since_by_scope[checkpoint.scope] = checkpoint.watermark or backfill_from
        settings = integration.settings or {}
        return ExtractWindow(
            since=backfill_from,  # scopes without a watermark
            overlap_seconds=int(settings.get("overlap_seconds", 300)),
            options={"since_by_scope": since_by_scope},
        )

    def _drain(self, run: JobRun, stream: Stream, totals: RunResult) -> RunResult:
        key = stream.key
        with self._factory() as session:
            checkpoint = raw_store.load_checkpoint(
                session, run.integration_id, key.scope, key.entity
            )
            cursor: Cursor | None = None
            if checkpoint is not None and checkpoint.job_run_id == run.id:
                if checkpoint.finished:
                    return totals  # finished earlier in this run
                cursor = checkpoint.cursor
            cancelled = run_state.cancel_requested(session, run.id)
        pages, stored, requests = totals.pages, totals.stored, totals.requests
        while True:
            if cancelled:  # checked before every fetch, within the previous page's transaction
                with transaction(self._factory) as session:
                    run_state.cancel_run(session, run.id)
                return RunResult(Outcome.CANCELLED, pages, stored, requests, "cancelled")
            page = stream.fetch_page(cursor)
            with transaction(self._factory) as session:
                outcome = raw_store.commit_page(
                    session,
                    tenant_id=run.tenant_id,
                    integration_id=run.integration_id,
                    job_run_id=run.id,
                    scope=key.scope,
                    entity=key.entity,
                    items=page.items,
                    next_cursor=page.next_cursor,
                    requests=page.requests,
                    high_watermark=page.high_watermark,
                    partitions=self._partitions,
                    publish=self._publish,
                )
                run_state.add_extracted(session, run.id, outcome.stored, page.requests)
                if page.total is not None:
                    run_state.note_total(session, run.id, key.entity, page.total)
                cancelled = run_state.cancel_requested(session, run.id)
            pages, stored, requests = pages + 1, stored + outcome.stored, requests + page.requests
            if self._on_page is not None:
                self._on_page(run, stream, outcome.stored)
            if page.next_cursor is None:
                return RunResult(Outcome.EXTRACTED, pages, stored, requests)
            cursor = page.next_cursor
