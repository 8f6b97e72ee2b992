"""Serving the UI after the demo's job, until Ctrl-C.

In embedded mode nothing else would execute a run the UI queues (Run now, Retry, Resume): no
extract worker consumes requests and `ExtractDispatcher` sends none. So while serving, the
demo picks up the demo tenant's queued runs and executes them in-process like its own, with
live progress on the page. Qdrant local mode takes one client at a time: the web's client is
closed for the length of such a run (the Qdrant page says so if asked meanwhile) and reopens
by itself afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack

from sqlalchemy.orm import Session, sessionmaker

from dataflows.embedded import embedded_vectorizer
from dataflows.load import RequestVectors
from pulse.demo.embedded import EmbeddedExecutor
from pulse.demo.web import WebServer
from pulse.jobs import ProgressEmitter, ProgressReporter
from pulse.settings import Settings
from storage import run_state
from storage.db import transaction
from storage.repositories import jobs

_POLL_SECONDS = 0.5
_QDRANT_ATTEMPTS = 5


def queued_runs(factory: sessionmaker[Session], tenant_id: int) -> list[int]:
    """The tenant's runs waiting for an extract worker."""
    with factory() as session:
        runs = [
            jobs.get_run(session, tenant_id, job.last_run_id)
            for job in jobs.list_jobs(session, tenant_id)
            if job.last_run_id is not None
        ]
    return [run.id for run in runs if run is not None and run.state == "queued"]


class _Batch:
    """Queued runs executed in-process, holding Qdrant until they are done."""

    def __init__(
        self,
        web: WebServer,
        factory: sessionmaker[Session],
        settings: Settings,
        tenant_id: int,
        run_ids: list[int],
    ) -> None:
        self.run_ids = run_ids
        self._stack = ExitStack()
        try:
            vectorize = _take_qdrant(self._stack, web, factory, settings)
            self._executor = EmbeddedExecutor(factory, settings, vectorize, tenant_id)
            self._stack.callback(self._executor.stop)
            self._executor.start(run_ids)
        except BaseException:
            self._stack.close()
            raise

    @property
    def finished(self) -> bool:
        return self._executor.finished

    def close(self) -> None:
        """Stop (cancelling what is unfinished) and release Qdrant; raise what failed."""
        try:
            self._executor.check()
        finally:
            self._stack.close()


def _take_qdrant(
    stack: ExitStack, web: WebServer, factory: sessionmaker[Session], settings: Settings
) -> RequestVectors:
    """The pipeline's vectorize step (closed with `stack`), with Qdrant local mode's directory
    taken from the web; a page may reopen it in the moment between: try again a few times."""
    for attempt in range(_QDRANT_ATTEMPTS):
        web.release_qdrant()
        try:
            return stack.enter_context(embedded_vectorizer(factory, settings))
        except RuntimeError as exc:  # "... already accessed by another instance ..."
            if "already accessed" not in str(exc) or attempt == _QDRANT_ATTEMPTS - 1:
                raise
            time.sleep(_POLL_SECONDS)
    raise AssertionError("unreachable")


def serve(
    web: WebServer,
    say: Callable[[str], None],
    *,
    factory: sessionmaker[Session],
    settings: Settings,
    tenant_id: int,
) -> None:
    """Until Ctrl-C (or the server dies). Executes queued runs only in embedded mode; with
    RabbitMQ the demo's worker processes do."""
    reporter = ProgressReporter(
        factory, ProgressEmitter(web.publish, settings.progress_interval_ms / 1000)
    )
    batch: _Batch | None = None
    try:
        while web.alive:
            if settings.embedded:
                batch = _step(web, say, factory, settings, tenant_id, batch, reporter)
            time.sleep(_POLL_SECONDS)
        say("the web server stopped")
    except KeyboardInterrupt:
        say("stopping")
    finally:
        if batch is not None:
            batch.close()


def _step(
    web: WebServer,
    say: Callable[[str], None],
    factory: sessionmaker[Session],
    settings: Settings,
    tenant_id: int,
    batch: _Batch | None,
    reporter: ProgressReporter,
) -> _Batch | None:
    if batch is not None:
        done = batch.finished  # read before the rows, so the last event shows the end
        reporter.report(batch.run_ids)
        if not done:
            return batch
        try:
            batch.close()
            say(f"run {', '.join(map(str, batch.run_ids))} (started in the UI) is over")
        except Exception as exc:  # the run shows its error in the UI; the demo serves on
            say(f"run {', '.join(map(str, batch.run_ids))} failed: {exc}")
        return None
    queued = queued_runs(factory, tenant_id)
    if not queued:
        return None
    say(f"run {', '.join(map(str, queued))} queued in the UI: executing it in this process")
    try:
        return _Batch(web, factory, settings, tenant_id, queued)
    except Exception as exc:
        # Fail the runs visibly rather than retrying them forever.
        with transaction(factory) as session:
            for run_id in queued:
                run_state.fail_run(
                    session, run_id, f"the demo could not run it: {exc}", max_retries=0, final=True
                )
        say(f"run {', '.join(map(str, queued))} failed: {exc}")
        return None
