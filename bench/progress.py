"""Progress-event latency: from a stage's row committed in PostgreSQL to the progress event
showing it, received by a subscriber of `etl.progress` on RabbitMQ.

    .venv/bin/python bench/progress.py [--runs N --commits M --tick-ms T --interval-ms I]

Two paths are measured, one after the other, on the same set-up:

* `scheduler`: nothing but the stages' own commits; `pulse scheduler`'s maintenance pass reads
  the rows every tick (SCHEDULER_TICK_MS) and publishes coalesced events (PROGRESS_INTERVAL_MS).
* `reporter`: the committing stage itself calls `ProgressReporter.report(run_ids)` right after
  its commit (what the extract and load stages can do).

Half the runs are extracting (each commit is one page: `add_extracted`), half are past extract
(each commit is the load stage marking a batch of raw records processed). Commits go to random
runs at random moments. A commit's latency is the time until the first event of its run showing
a count at least as high as the one committed (a later, coalesced event counts: that is what a
viewer sees). Progress goes to stderr; one JSON line goes to stdout. A throwaway database and
RabbitMQ virtual host are created and removed at the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from cryptography.fernet import Fernet
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker
from support import progress, throwaway_database, unwind_on_sigterm

from dataflows.rabbitmq import ConfirmedPublisher, Topology
from dataflows.rabbitmq.progress import ProgressPublisher
from pulse.jobs import (
    ExtractDispatcher,
    ProgressEmitter,
    ProgressEvent,
    ProgressFeed,
    ProgressReporter,
    Scheduler,
    SchedulerConfig,
)
from storage import run_state
from storage.crypto import CredentialCipher
from storage.db import make_engine, session_factory, transaction
from storage.migrate import upgrade
from storage.repositories import integrations, jobs, tenants
from storage.schema import JobRun, RawRecord, utcnow

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP_HOST = "127.0.0.1:5672"
RAW_PER_RUN = 3_000
PAGE = 50


@contextmanager
def throwaway_vhost(host: str) -> Iterator[str]:
    vhost = f"pulse_bench_progress_{os.getpid()}"

    def ctl(*args: str) -> None:
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True)

    ctl("add_vhost", vhost)
    try:
        ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{host}/{vhost}"
    finally:
        ctl("delete_vhost", vhost)


@dataclass(frozen=True, slots=True)
class Run:
    tenant_id: int
    job_id: int
    run_id: int
    extracting: bool


def setup(factory: sessionmaker[Session], runs: int) -> list[Run]:
    """`runs` tenants with one job each and a run in flight: half extracting, half past
    extract with `RAW_PER_RUN` raw records waiting for the load stage."""
    cipher = CredentialCipher(Fernet.generate_key().decode())
    made = []
    for n in range(runs):
        with transaction(factory) as session:
            tenant = tenants.create_tenant(session, f"Bench {n}")
            integration = integrations.create_integration(
                session,
                tenant.id,
                name="Jira",
                provider="jira",
                base_url="https://bench.example",
                credentials={"email": "bot@example.com", "api_token": "t"},
                settings={"projects": ["B"]},
                cipher=cipher,
            )
            job = jobs.ensure_job(session, tenant.id, integration.id)
            run = jobs.start_run(session, tenant.id, job.id)
            assert run is not None
            extracting = n % 2 == 0
            run_state.claim_run(session, run.id)
            if not extracting:
                session.execute(
                    insert(RawRecord),
                    [
                        {
                            "tenant_id": tenant.id,
                            "integration_id": integration.id,
                            "job_run_id": run.id,
                            "entity": "jira.issue",
                            "external_id": str(i),
                            "version": "1",
                            "content_hash": f"h{i}",
                            "payload": {},
                            "fetched_at": utcnow(),
                        }
                        for i in range(RAW_PER_RUN)
                    ],
                )
                run.stage, run.extracted = "transform", RAW_PER_RUN
            made.append(Run(tenant.id, job.id, run.id, extracting))
    return made


@dataclass(frozen=True, slots=True)
class Commit:
    run_id: int
    count: int  # extracted (extracting runs) or transformed (runs past extract) after it
    at: float  # monotonic time right after the commit returned


def commit(factory: sessionmaker[Session], run: Run, done: int) -> Commit:
    """One stage commit: a page of `PAGE` records extracted, or loaded."""
    with transaction(factory) as session:
        if run.extracting:
            run_state.add_extracted(session, run.run_id, PAGE, 1)
        else:
            batch = select(RawRecord.id).where(
                RawRecord.job_run_id == run.run_id, RawRecord.processed_at.is_(None)
            )
            ids = list(session.scalars(batch.order_by(RawRecord.id).limit(PAGE)))
            session.execute(
                update(RawRecord).where(RawRecord.id.in_(ids)).values(processed_at=utcnow())
            )
    return Commit(run.run_id, done + PAGE, time.monotonic())


def subscribe(
    feed: ProgressFeed, stop: threading.Event, into: list[tuple[float, ProgressEvent]]
) -> None:
    while not stop.is_set():
        event = feed.next(0.2)
        if event is not None:
            into.append((time.monotonic(), event))


def latencies(commits: list[Commit], events: list[tuple[float, ProgressEvent]]) -> list[float]:
    by_run: dict[int, list[tuple[float, int]]] = {}
    for at, event in events:
        shown = event.extracted if event.stage == "extract" else event.transformed
        by_run.setdefault(event.job_run_id, []).append((at, shown))
    found = []
    for c in commits:
        seen = [at for at, shown in by_run.get(c.run_id, []) if shown >= c.count and at >= c.at]
        if not seen:
            raise SystemExit(f"no event ever showed run {c.run_id} at {c.count}: events lost")
        found.append((min(seen) - c.at) * 1000)
    return found


def measure(
    factory: sessionmaker[Session],
    amqp_url: str,
    runs: list[Run],
    commits: int,
    *,
    interval: float,
    reporter: ProgressReporter | None,
) -> tuple[list[float], int]:
    rng = random.Random(7)
    done = {r.run_id: 0 for r in runs}
    with transaction(factory) as session:  # start from what the rows say now
        for row in session.scalars(select(JobRun).where(JobRun.id.in_(list(done)))):
            done[row.id] = row.extracted if row.stage == "extract" else row.transformed
    made: list[Commit] = []
    events: list[tuple[float, ProgressEvent]] = []
    stop = threading.Event()
    with ProgressFeed(amqp_url, name="bench-subscriber") as feed:
        listener = threading.Thread(target=subscribe, args=(feed, stop, events))
        listener.start()
        try:
            for _ in range(commits):
                run = rng.choice(runs)
                made.append(commit(factory, run, done[run.run_id]))
                done[run.run_id] += PAGE
                if reporter is not None:
                    reporter.report([run.run_id])
                time.sleep(rng.uniform(0.0, 2 * interval))
            if reporter is not None:
                deadline = time.monotonic() + 2
                while time.monotonic() < deadline:  # events held back by the interval
                    reporter.flush()
                    time.sleep(0.05)
            time.sleep(2.0)
        finally:
            stop.set()
            listener.join(10)
    return latencies(made, events), len(events)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(round(q * (len(ordered) - 1)), len(ordered) - 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs in flight (default 20)")
    parser.add_argument("--commits", type=int, default=300, help="commits per path (default 300)")
    parser.add_argument("--tick-ms", type=int, default=500, help="SCHEDULER_TICK_MS (500)")
    parser.add_argument("--interval-ms", type=int, default=250, help="PROGRESS_INTERVAL_MS (250)")
    parser.add_argument(
        "--commit-gap-ms", type=int, default=50, help="mean time between two commits (50)"
    )
    parser.add_argument("--admin-url", default=ADMIN_URL, help="PostgreSQL maintenance database")
    parser.add_argument("--amqp-host", default=AMQP_HOST)
    args = parser.parse_args(argv)
    unwind_on_sigterm()
    interval = args.interval_ms / 1000
    gap = args.commit_gap_ms / 1000
    with (
        throwaway_database(args.admin_url, "pulse_bench_progress") as db_url,
        throwaway_vhost(args.amqp_host) as amqp_url,
    ):
        engine = make_engine(db_url)
        publisher = ProgressPublisher(amqp_url, name="bench-scheduler")
        stage_publisher = ProgressPublisher(amqp_url, name="bench-stage")
        try:
            upgrade(engine)
            factory = session_factory(engine)
            with ConfirmedPublisher(amqp_url, name="bench-topology") as topology:
                Topology(4, 3).declare(topology.channel)
            runs = setup(factory, args.runs)
            progress(f"{len(runs)} runs in flight; {args.commits} commits per path")
            scheduler = Scheduler(
                engine,
                factory,
                ExtractDispatcher(amqp_url, name="bench"),
                SchedulerConfig(tick=timedelta(milliseconds=args.tick_ms)),
                progress=ProgressEmitter(publisher.publish, min_interval=interval),
            )
            stop = threading.Event()
            loop = threading.Thread(target=scheduler.serve, args=(stop,))
            loop.start()
            try:
                through_scheduler, events = measure(
                    factory, amqp_url, runs, args.commits, interval=gap, reporter=None
                )
            finally:
                stop.set()
                loop.join(30)
            progress(f"scheduler path: {len(through_scheduler)} commits, {events} events")
            reporter = ProgressReporter(
                factory, ProgressEmitter(stage_publisher.publish, min_interval=interval)
            )
            through_stage, stage_events = measure(
                factory, amqp_url, runs, args.commits, interval=gap, reporter=reporter
            )
            progress(f"reporter path: {len(through_stage)} commits, {stage_events} events")
        finally:
            publisher.close()
            stage_publisher.close()
            engine.dispose()
    figures = {
        "progress_p50_ms": round(statistics.median(through_scheduler), 1),
        "progress_p95_ms": round(percentile(through_scheduler, 0.95), 1),
        "progress_max_ms": round(max(through_scheduler), 1),
        "reporter_p50_ms": round(statistics.median(through_stage), 1),
        "reporter_p95_ms": round(percentile(through_stage, 0.95), 1),
        "runs": args.runs,
        "commits": args.commits,
        "events_per_commit": round(events / args.commits, 2),
        "tick_ms": args.tick_ms,
        "interval_ms": args.interval_ms,
    }
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
