"""Embedded mode (no RABBITMQ_URL): the demo's runs executed in this process, one after another
in a background thread (SQLite has one writer), through the same path as the tests of the
embedded pipeline: `extract_in_process` hands each committed page to `EmbeddedPipeline`, which
transforms, loads and embeds it before the next page is fetched.

No scheduler runs in embedded mode, so this executor also does the scheduler's bookkeeping for
its runs: it writes the later stages' counts onto the run row as pages are loaded (what the UI
and the terminal bars show) and finishes the run with the same completion check.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from connectors.extract import Outcome, StreamFactory
from connectors.extract.embedded import extract_in_process
from dataflows.embedded import EmbeddedPipeline
from dataflows.load import RequestVectors
from pulse.errors import FatalError
from pulse.jobs import check_completion
from pulse.settings import Settings
from storage import run_state
from storage.crypto import cipher_for
from storage.db import transaction
from storage.repositories import jobs
from storage.run_progress import count_runs, store_counts
from storage.run_state import TERMINAL_RUN_STATES
from storage.schema import utcnow

log = logging.getLogger(__name__)

_COUNT_EVERY = 0.5  # seconds between two writes of a run's counts while it is being loaded


class EmbeddedExecutor:
    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        request_vectors: RequestVectors,
        tenant_id: int,
    ) -> None:
        self._factory = factory
        self._settings = settings
        self._tenant_id = tenant_id
        self._pipeline = EmbeddedPipeline(
            factory, batch_size=settings.etl_batch_size, request_vectors=request_vectors
        )
        self._streams = StreamFactory(
            factory, cipher_for(settings), max_retries=settings.etl_max_retries
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._run_ids: list[int] = []

    def start(self, run_ids: Sequence[int]) -> None:
        self._run_ids = list(run_ids)
        self._thread = threading.Thread(target=self._work, name="demo-embedded", daemon=True)
        self._thread.start()

    @property
    def finished(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def check(self) -> None:
        """Raise what ended the executor's thread, if anything did."""
        if self._error is not None:
            raise FatalError(f"the embedded pipeline stopped: {self._error}") from self._error

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel the runs not finished yet (an extracting run stops before its next page) and
        wait for the thread."""
        if self._thread is None or not self._thread.is_alive():
            return
        self._stop.set()
        with transaction(self._factory) as session:
            for run_id in self._run_ids:
                jobs.request_cancel(session, self._tenant_id, run_id)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("the embedded pipeline did not stop within %.0f s", timeout)

    def _work(self) -> None:
        try:
            for run_id in self._run_ids:
                if self._stop.is_set():
                    return
                self._execute(run_id)
        except BaseException as exc:
            self._error = exc
            log.exception("the embedded pipeline failed")

    def _execute(self, run_id: int) -> None:
        settings = self._settings
        counter = _RunCounts(self._factory, self._tenant_id, run_id)

        def after_drain() -> None:
            self._pipeline.process_pending()
            counter.store()

        try:
            result = extract_in_process(
                self._factory,
                self._streams,
                run_id,
                self._pipeline.accept,
                partitions=settings.etl_partitions,
                max_retries=settings.etl_max_retries,
                batch_size=settings.etl_batch_size,
                after_drain=after_drain,
            )
        except Exception as exc:
            # Nobody would ever finish the run otherwise: it fails, with the reason shown.
            with transaction(self._factory) as session:
                run_state.fail_run(
                    session, run_id, f"embedded pipeline: {exc}", max_retries=0, final=True
                )
            raise
        if result.outcome in (Outcome.EXTRACTED, Outcome.ALREADY_DONE):
            self._complete(run_id)

    def _complete(self, run_id: int) -> None:
        """Everything extracted has been transformed, loaded and embedded by now (the pipeline
        is synchronous), so the completion check must finish the run; if it does not, the run
        fails with what it still waits for rather than staying "running" forever."""
        with transaction(self._factory) as session:
            run = jobs.get_run(session, self._tenant_id, run_id)
            if run is None or run.state in TERMINAL_RUN_STATES:
                return
            outcome = check_completion(session, [run], utcnow())
            if run_id in outcome.finished:
                return
            verdict = outcome.assessments.get(run_id)
            waiting = verdict.waiting_for if verdict is not None else f"run state {run.state!r}"
            run_state.fail_run(
                session,
                run_id,
                f"embedded pipeline ended with {waiting}",
                max_retries=0,
                final=True,
            )


class _RunCounts:
    """Writes the run's transform/load/vectorize counts onto its row, at most every
    `_COUNT_EVERY` seconds (the scheduler does this in production)."""

    def __init__(self, factory: sessionmaker[Session], tenant_id: int, run_id: int) -> None:
        self._factory = factory
        self._tenant_id = tenant_id
        self._run_id = run_id
        self._last = float("-inf")

    def store(self) -> None:
        now = time.monotonic()
        if now - self._last < _COUNT_EVERY:
            return
        self._last = now
        with transaction(self._factory) as session:
            run = jobs.get_run(session, self._tenant_id, self._run_id)
            if run is None or run.state != "running":
                return
            counts = count_runs(session, [(self._tenant_id, self._run_id)])[self._run_id]
            store_counts(session, counts, stage=run.stage or "extract", progressed_at=utcnow())
