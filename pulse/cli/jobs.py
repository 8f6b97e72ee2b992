"""`pulse jobs ...`, `pulse dead-letters ...`, `pulse queues` and `pulse scheduler`.

Jobs are named by TENANT (slug, name or id) and INTEGRATION (name, id or provider when the
tenant has one integration of it). `pulse jobs run ... --wait` shows a bar per stage until the
run ends: exit code 0 when it succeeded, 1 with its error when it failed or was cancelled.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from pulse.cli.health import add_health_port, health_port
from pulse.errors import ConfigurationError
from pulse.jobs import JobService, stage_progress
from pulse.jobs.dispatch import ExtractDispatcher
from pulse.jobs.progress import STAGES
from pulse.settings import Settings
from storage.db import make_engine, session_factory
from storage.heartbeats import list_heartbeats
from storage.repositories import integrations, jobs, tenants
from storage.run_state import TERMINAL_RUN_STATES
from storage.schema import Job, JobRun, utcnow

_SCHEDULER_STALE = timedelta(seconds=60)


def register(commands: Any) -> None:
    _register_jobs(commands)
    _register_dead_letters(commands)
    queues = commands.add_parser(
        "queues",
        help="show queue depths, consumers, lag and rates",
        description="One line per work queue, stream partition and dead-letter queue.",
    )
    queues.set_defaults(handler=_queues)
    scheduler = commands.add_parser(
        "scheduler",
        help="run the scheduler",
        description="Start due jobs; in the scheduler that leads, also resume rate-limited runs, "
        "check completion, run the watchdog and publish progress. Run several for availability.",
    )
    scheduler.add_argument("--name", default=f"scheduler-{socket.gethostname()}")
    add_health_port(scheduler)
    scheduler.set_defaults(handler=_scheduler)


def _register_jobs(commands: Any) -> None:
    parser = commands.add_parser("jobs", help="jobs and runs", description="Manage jobs.")
    sub = parser.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="list jobs", description="Every job with its last run.")
    listing.add_argument("--tenant", help="only this tenant (slug, name or id)")
    listing.set_defaults(handler=_list)
    for action, text in (
        ("run", "start a run now"),
        ("retry", "start a failed job again"),
        ("pause", "pause a job (an extracting run pauses at its next page)"),
        ("resume", "resume a paused job (its paused run continues)"),
        ("cancel", "cancel the job's run in flight"),
    ):
        command = sub.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        command.add_argument("tenant", metavar="TENANT", help="tenant slug, name or id")
        command.add_argument(
            "integration", metavar="INTEGRATION", help="integration name, id or provider"
        )
        if action in ("run", "retry"):
            command.add_argument(
                "--wait", action="store_true", help="show progress until the run ends"
            )
            command.add_argument(
                "--timeout", type=float, help="with --wait: give up after this many seconds"
            )
        if action == "run":
            command.add_argument("--full", action="store_true", help="a full re-extraction")
        command.set_defaults(handler=_act, action=action)


def _register_dead_letters(commands: Any) -> None:
    parser = commands.add_parser(
        "dead-letters", help="dead letters", description="List, requeue or discard dead letters."
    )
    sub = parser.add_subparsers(dest="dead_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="list dead letters", description="Newest first.")
    listing.add_argument("--tenant", help="only this tenant (slug, name or id)")
    listing.add_argument(
        "--status", default="open", choices=("open", "requeued", "discarded", "all")
    )
    listing.add_argument("--stage", help="extract, transform, load or vectorize")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(handler=_dead_list)
    for action, text in (
        ("requeue", "send dead letters back to their source"),
        ("discard", "mark dead letters as discarded"),
    ):
        command = sub.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        command.add_argument("ids", metavar="ID", type=int, nargs="+")
        command.set_defaults(handler=_dead_act, action=action)


@contextmanager
def _database(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.database_url)
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


def _tenant_id(session: Session, name: str) -> int:
    tenant = tenants.find_tenant(session, name)
    if tenant is None:
        raise ConfigurationError(f"no tenant {name!r} (use its slug, name or id)")
    return tenant.id


def _job(session: Session, tenant_name: str, integration_name: str) -> Job:
    tenant_id = _tenant_id(session, tenant_name)
    integration = integrations.find_integration(session, tenant_id, integration_name)
    if integration is None:
        by_provider = [
            i
            for i in integrations.list_integrations(session, tenant_id)
            if i.provider == integration_name.lower()
        ]
        if len(by_provider) != 1:
            raise ConfigurationError(
                f"no integration {integration_name!r} in tenant {tenant_name!r} "
                "(use its name or id)"
            )
        integration = by_provider[0]
    job = jobs.find_job(session, tenant_id, integration.id)
    if job is None:
        job = jobs.ensure_job(session, tenant_id, integration.id)
        session.commit()
    return job


def _list(args: argparse.Namespace) -> int:
    with _database(args.settings) as factory, factory() as session:
        tenant_id = _tenant_id(session, args.tenant) if args.tenant else None
        lines = jobs.job_lines(session, tenant_id)
    print("TENANT\tINTEGRATION\tSTATE\tNEXT RUN\tLAST RUN\tSTAGE\tCOUNTS (E/T/L/V/F)\tERROR")
    for line in lines:
        job, run = line.job, line.last_run
        next_run = f"{job.next_run_at:%FT%TZ}" if job.next_run_at else "-"
        if run is None:
            last = stage = counts = "-"
        else:
            last, stage = f"{run.id} {run.state}", run.stage or "-"
            counts = "/".join(
                str(n)
                for n in (run.extracted, run.transformed, run.loaded, run.vectorized, run.failed)
            )
        error = (job.last_error or "").splitlines()[0][:120] if job.last_error else ""
        name = f"{line.integration_name} ({line.provider})"
        print(
            f"{line.tenant_slug}\t{name}\t{job.state}\t{next_run}\t{last}\t{stage}\t{counts}\t{error}"
        )
    return 0


def _act(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    engine = make_engine(settings.database_url)
    factory = session_factory(engine)
    dispatcher = ExtractDispatcher(settings.rabbitmq_url, name="cli")
    service = JobService(factory, dispatcher, max_retries=settings.etl_max_retries, engine=engine)
    try:
        with factory() as session:
            job = _job(session, args.tenant, args.integration)
        tenant_id, job_id = job.tenant_id, job.id
        if args.action in ("run", "retry"):
            if args.action == "run":
                run = service.run_now(
                    tenant_id, job_id, kind="full" if args.full else "incremental"
                )
            else:
                run = service.retry(tenant_id, job_id)
            print(f"run {run.id} queued (job {job_id}, {run.kind})")
            if args.wait:
                return _wait(factory, tenant_id, run.id, args.timeout)
        elif args.action == "pause":
            service.pause(tenant_id, job_id)
            print(f"job {job_id} paused")
        elif args.action == "resume":
            outcome = service.resume(tenant_id, job_id)
            if outcome.requeued is not None:
                print(f"job {job_id} resumed: run {outcome.requeued.run_id} continues")
            else:
                print(f"job {job_id} resumed ({outcome.state})")
        else:
            cancelled = service.cancel_job(tenant_id, job_id)
            if cancelled.cancelled:
                print(f"run {cancelled.run_id} cancelled")
            else:
                print(f"run {cancelled.run_id}: cancel requested; it stops before its next page")
        return 0
    finally:
        dispatcher.close()
        engine.dispose()


def _wait(
    factory: sessionmaker[Session], tenant_id: int, run_id: int, timeout: float | None
) -> int:
    """Poll the run's row (the truth; progress events are only hints) and show one bar per
    stage until it ends."""
    if not _scheduler_alive(factory):
        print(
            "pulse: warning: no scheduler heartbeat in the last minute; without "
            "`pulse scheduler` the run is never marked finished",
            file=sys.stderr,
        )
    deadline = None if timeout is None else time.monotonic() + timeout
    bars = {
        stage: tqdm(desc=f"{stage:<9}", position=n, unit="rec", leave=True, disable=None)
        for n, stage in enumerate(STAGES)
    }
    try:
        while True:
            with factory() as session:
                run = jobs.get_run(session, tenant_id, run_id)
            if run is None:
                raise ConfigurationError(f"run {run_id} disappeared")
            _draw(bars, run)
            if run.state in TERMINAL_RUN_STATES:
                break
            if deadline is not None and time.monotonic() > deadline:
                print(f"pulse: run {run_id} still {run.state} after {timeout:g} s", file=sys.stderr)
                return 3
            time.sleep(0.5)
    finally:
        for bar in bars.values():
            bar.close()
    if run.state == "succeeded":
        counts = f"{run.extracted} extracted, {run.loaded} loaded, {run.vectorized} embedded"
        print(f"run {run_id} succeeded: {counts}")
        return 0
    print(f"pulse: run {run_id} {run.state}: {run.error or 'no error recorded'}", file=sys.stderr)
    return 1


def _draw(bars: dict[str, tqdm[Any]], run: JobRun) -> None:
    for stage, progress in stage_progress(run).items():
        bar = bars[stage]
        if progress.total is not None and bar.total != progress.total:
            bar.total = progress.total
        bar.n = progress.done
        marker = "*" if run.stage == stage else ""
        bar.set_postfix_str(f"{run.state}{marker}", refresh=False)
        bar.refresh()


def _scheduler_alive(factory: sessionmaker[Session]) -> bool:
    with factory() as session:
        beats = [row for row in list_heartbeats(session) if row.kind == "scheduler"]
    return any(utcnow() - row.beat_at < _SCHEDULER_STALE for row in beats)


def _dead_list(args: argparse.Namespace) -> int:
    from pulse.ops import DeadLetters

    with _database(args.settings) as factory:
        with factory() as session:
            tenant_id = _tenant_id(session, args.tenant) if args.tenant else None
        rows = DeadLetters(
            factory, rabbitmq_url=None, partitions=args.settings.etl_partitions
        ).find(
            tenant_id=tenant_id,
            status=None if args.status == "all" else args.status,
            stage=args.stage,
            limit=args.limit,
        )
    print("ID\tSTATUS\tSTAGE\tSOURCE\tTENANT\tRUN\tATTEMPTS\tCREATED\tERROR")
    for row in rows:
        error = row.error.splitlines()[0][:160] if row.error else ""
        print(
            f"{row.id}\t{row.status}\t{row.stage}\t{row.source_queue or '-'}\t"
            f"{row.tenant_id or '-'}\t{row.job_run_id or '-'}\t{row.attempts}\t"
            f"{row.created_at:%FT%TZ}\t{error}"
        )
    return 0


def _dead_act(args: argparse.Namespace) -> int:
    from pulse.ops import DeadLetterError, DeadLetters

    settings: Settings = args.settings
    failed = 0
    with _database(settings) as factory:
        service = DeadLetters(
            factory, rabbitmq_url=settings.rabbitmq_url, partitions=settings.etl_partitions
        )
        for dead_letter_id in args.ids:
            try:
                if args.action == "requeue":
                    print(f"{dead_letter_id}: {service.requeue(dead_letter_id)}")
                else:
                    service.discard(dead_letter_id)
                    print(f"{dead_letter_id}: discarded")
            except DeadLetterError as exc:
                print(f"pulse: {dead_letter_id}: {exc}", file=sys.stderr)
                failed += 1
    return 1 if failed else 0


def _queues(args: argparse.Namespace) -> int:
    from pulse.ops import QueueMonitor

    settings: Settings = args.settings
    if settings.rabbitmq_url is None:
        raise ConfigurationError("`pulse queues` needs RABBITMQ_URL (embedded mode has no queues)")
    with _database(settings) as factory:
        monitor = QueueMonitor.from_settings(settings, factory)
        try:
            stats = monitor.snapshot()
        finally:
            monitor.close()
    print("QUEUE\tKIND\tMESSAGES\tCONSUMERS\tLAG\tPUBLISH/s\tDELIVER/s")
    for queue in stats:
        if not queue.exists:
            print(f"{queue.name}\t{queue.kind}\t(missing)")
            continue
        lag = "-" if queue.lag is None else f"{queue.lag} ({queue.lag_source})"
        print(
            f"{queue.name}\t{queue.kind}\t{queue.messages}\t{_dash(queue.consumers)}\t{lag}\t"
            f"{_rate(queue.publish_rate)}\t{_rate(queue.deliver_rate)}"
        )
    return 0


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _scheduler(args: argparse.Namespace) -> int:
    from pulse.jobs.process import run_scheduler_process

    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    run_scheduler_process(args.settings, stop, name=args.name, health_port=health_port(args))
    return 0
