"""`run_demo`: the whole demo, from an empty state directory to a served UI.

Simulator up → schema migrated → demo tenant, admin and integrations → (web UI up) → a full
run of both jobs through the jobs service → executed in-process (embedded) or by the
`pulse` worker processes (RabbitMQ) → counts checked against the simulator → (serve until
Ctrl-C). Everything it starts is stopped in reverse order when it ends, however it ends.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from connectors.simulator import SimulatorConfig, SimulatorServer
from dataflows.embedded import embedded_vectorizer
from pulse.demo.counts import loaded_counts, qdrant_points, simulator_counts
from pulse.demo.dataset import DEMO_SITE, Dataset, check_dataset
from pulse.demo.embedded import EmbeddedExecutor
from pulse.demo.processes import DemoProcesses
from pulse.demo.progress import watch_runs
from pulse.demo.report import DemoReport, RunSummary
from pulse.demo.runs import start_full_runs
from pulse.demo.serve import serve
from pulse.demo.tenant import DemoTenant, find_demo_tenant, prepare_tenant
from pulse.demo.web import WebServer, listen
from pulse.errors import ConfigurationError
from pulse.jobs import ProgressEmitter, ProgressReporter
from pulse.settings import Settings
from storage import migrate
from storage.crypto import cipher_for
from storage.db import make_engine, session_factory
from storage.schema import JobRun


@dataclass(frozen=True, slots=True)
class DemoOptions:
    dataset: Dataset = field(default_factory=Dataset)
    serve: bool = True
    host: str = "127.0.0.1"
    port: int = 8000
    simulator_port: int = 8900
    shards: int = 1  # per stage, with RabbitMQ
    timeout: float = 900.0  # seconds the job may take


def demo_settings(settings: Settings, state_dir: Path | None) -> Settings:
    """`--state-dir` moves the SQLite file and the Qdrant directory with it, unless
    DATABASE_URL or QDRANT_PATH were set explicitly."""
    if state_dir is None:
        return settings
    update: dict[str, object] = {"state_dir": state_dir}
    if "database_url" not in settings.model_fields_set:
        update["database_url"] = f"sqlite:///{state_dir / 'pulse.db'}"
    if "qdrant_path" not in settings.model_fields_set:
        update["qdrant_path"] = state_dir / "qdrant"
    return settings.model_copy(update=update)


def _check(settings: Settings, options: DemoOptions) -> None:
    if settings.rabbitmq_url is not None and settings.is_sqlite:
        raise ConfigurationError(
            "RABBITMQ_URL is set but DATABASE_URL is SQLite: the worker processes share one "
            "PostgreSQL database (set DATABASE_URL=postgresql://...), or unset RABBITMQ_URL "
            "for the embedded demo"
        )
    if options.shards < 1:
        raise ConfigurationError(f"--shards must be at least 1, got {options.shards}")
    if options.timeout <= 0:
        raise ConfigurationError(f"--timeout must be positive, got {options.timeout:g}")


class _Say:
    def __init__(self, out: TextIO) -> None:
        self._out = out

    def __call__(self, line: str) -> None:
        self._out.write(f"demo: {line}\n")
        self._out.flush()


@contextmanager
def _simulator(config: SimulatorConfig, port: int) -> Iterator[SimulatorServer]:
    server = SimulatorServer(config, port=port)
    try:
        server.start()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot start the API simulator on 127.0.0.1:{port}: {exc.strerror} "
            "(choose another --simulator-port; 0 picks a free one)"
        ) from None
    try:
        yield server
    finally:
        server.stop()


def run_demo(settings: Settings, options: DemoOptions, *, out: TextIO = sys.stderr) -> DemoReport:
    """Run the demo; with `options.serve`, serve the UI until Ctrl-C, then stop everything.
    Returns the report (the caller decides what a mismatch means)."""
    _check(settings, options)
    say = _Say(out)
    started = time.monotonic()
    mode = "embedded" if settings.embedded else "processes"
    with ExitStack() as stack:
        listener = listen(options.host, options.port) if options.serve else None
        if listener is not None:
            stack.callback(listener.close)
        sim = stack.enter_context(
            _simulator(options.dataset.simulator_config(), options.simulator_port)
        )
        expected = simulator_counts(sim, DEMO_SITE)
        say(
            f"API simulator at {sim.base_url}: {expected['work_items']} Jira issues, "
            f"{expected['pull_requests']} pull requests (seed {options.dataset.seed})"
        )
        engine = make_engine(settings.database_url)
        stack.callback(engine.dispose)
        shown = engine.url.render_as_string(hide_password=True)
        try:
            migrate.upgrade(engine)
        except OperationalError as exc:
            raise ConfigurationError(f"cannot use the database {shown}: {exc.orig}") from None
        factory = session_factory(engine)
        say(f"database {shown} migrated")
        check_dataset(
            settings.state_dir, options.dataset, tenant_exists=find_demo_tenant(factory) is not None
        )
        tenant = prepare_tenant(factory, cipher_for(settings), sim, DEMO_SITE)
        what = "reused (its data stays; the runs load what changed)" if tenant.reused else "created"
        say(f"tenant {tenant.slug!r} {what}, Jira and GitHub integrations at the simulator")

        # The workers (in-process pipeline or child processes) end before the counts are taken.
        workers = stack.enter_context(ExitStack())
        vectorize = None
        if settings.embedded:
            # Opened before the web: in Qdrant local mode the directory takes one client at a
            # time, and the pipeline must have it.
            vectorize = workers.enter_context(embedded_vectorizer(factory, settings))
        else:
            from dataflows.shards import declare_topology

            declare_topology(settings)
        web = None
        if listener is not None:
            web = stack.enter_context(WebServer(settings, listener))
            say(f"web UI at {web.url}: log in as {tenant.email} with password {tenant.password}")
        else:
            say(f"admin login: {tenant.email} / {tenant.password}")

        run_ids = start_full_runs(
            engine, factory, settings, tenant.id, [tenant.jira_id, tenant.github_id]
        )
        say(f"full runs {', '.join(map(str, run_ids))} started ({mode} mode)")
        on_poll: Callable[[Sequence[int]], None] | None = None
        if vectorize is not None:
            executor = EmbeddedExecutor(factory, settings, vectorize, tenant.id)
            workers.callback(executor.stop)
            executor.start(run_ids)
            check, finished = executor.check, lambda: executor.finished
            if web is not None:  # no RabbitMQ carries progress events: hand them to the page
                emitter = ProgressEmitter(web.publish, settings.progress_interval_ms / 1000)
                on_poll = ProgressReporter(factory, emitter).report
        else:
            processes = DemoProcesses(
                settings, shards=options.shards, log_dir=settings.state_dir / "logs"
            )
            workers.enter_context(processes)
            say(f"started {', '.join(processes.names)} (logs in {processes.log_dir})")
            check, finished = processes.check, lambda: False
        stopping = (
            "cancelling the runs (the current page finishes)"
            if settings.embedded
            else "stopping the worker processes (the next demo cancels the unfinished runs)"
        )
        try:
            runs = watch_runs(
                factory,
                tenant.id,
                run_ids,
                timeout=options.timeout,
                out=out,
                check=check,
                finished=finished,
                on_poll=on_poll,
            )
        except KeyboardInterrupt:
            say(f"interrupted: {stopping}")
            raise
        if settings.embedded or web is None:
            # Embedded: Qdrant local mode is free for the counts and the web; --no-serve: the
            # worker processes have done their part.
            workers.close()
        report = _report(factory, settings, tenant, runs, expected, web=web, started=started)
        _summarise(say, report)
        if web is not None:
            say(f"serving {web.url} (log in as {tenant.email} / {tenant.password}); Ctrl-C stops")
            serve(web, say, factory=factory, settings=settings, tenant_id=tenant.id)
        return report


def _report(
    factory: sessionmaker[Session],
    settings: Settings,
    tenant: DemoTenant,
    runs: list[JobRun],
    expected: dict[str, int],
    *,
    web: WebServer | None,
    started: float,
) -> DemoReport:
    notes = []
    points: int | None
    if web is None:
        points = qdrant_points(factory, settings, tenant.id)
    else:
        try:
            points = web.qdrant_points(tenant.id)
        except Exception as exc:  # the summary says why; the web's Qdrant page shows it too
            points = None
            notes.append(
                f"Qdrant not counted: {exc} (Qdrant local mode takes one process at a time; "
                "set QDRANT_URL to share a Qdrant server)"
            )
    loaded = loaded_counts(factory, tenant.id)
    if points is not None:
        loaded["qdrant_points"] = points
    providers = {tenant.jira_id: "jira", tenant.github_id: "github"}
    return DemoReport(
        mode="embedded" if settings.embedded else "processes",
        tenant=tenant.slug,
        tenant_reused=tenant.reused,
        setup_seconds=time.monotonic() - started,
        runs=[RunSummary.of(run, providers.get(run.integration_id, "?")) for run in runs],
        loaded=loaded,
        simulator=expected,
        notes=notes,
    )


def _summarise(say: _Say, report: DemoReport) -> None:
    for run in report.runs:
        say(
            f"run {run.id} ({run.integration}) {run.state}: {run.extracted} records extracted, "
            f"{run.loaded} facts loaded, {run.vectorized} embedded, {run.failed} dead letters"
        )
    pairs = ", ".join(
        f"{entity} {report.loaded.get(entity, '-')}/{count}"
        for entity, count in report.simulator.items()
    )
    say(f"loaded/simulator: {pairs}")
    for note in report.notes:
        say(note)
    for problem in report.problems():
        say(f"PROBLEM: {problem}")
    say(f"setup took {report.setup_seconds:.1f} s")
