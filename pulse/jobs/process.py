"""Assembles the `pulse scheduler` process: the scheduler loop (main thread), progress
publishing, queue gauges (a thread), a heartbeat row, and optionally the health/metrics port."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from dataflows.rabbitmq.progress import ProgressPublisher
from pulse.jobs.dispatch import ExtractDispatcher
from pulse.jobs.progress import ProgressEmitter
from pulse.jobs.scheduler import Scheduler, SchedulerConfig
from pulse.ops.health import HealthServer
from pulse.ops.metrics import Metrics
from pulse.ops.queues import QueueMonitor, export_forever
from pulse.settings import Settings
from storage.db import make_engine, session_factory
from storage.heartbeats import Heartbeat

log = logging.getLogger(__name__)


def run_scheduler_process(
    settings: Settings, stop: threading.Event, *, name: str, health_port: int | None = None
) -> None:
    """Runs until `stop` is set (SIGTERM/SIGINT in the CLI); the current tick completes."""
    engine = make_engine(settings.database_url)
    factory = session_factory(engine)
    metrics = Metrics()
    config = SchedulerConfig(
        tick=timedelta(milliseconds=settings.scheduler_tick_ms),
        stall=timedelta(seconds=settings.etl_stall_seconds),
        max_retries=settings.etl_max_retries,
    )
    publisher = None
    emitter = None
    if settings.rabbitmq_url is not None:
        publisher = ProgressPublisher(settings.rabbitmq_url, name=f"{name}-progress")
        emitter = ProgressEmitter(
            publisher.publish, min_interval=settings.progress_interval_ms / 1000
        )
    scheduler = Scheduler(
        engine,
        factory,
        ExtractDispatcher(settings.rabbitmq_url, name=name),
        config,
        progress=emitter,
        metrics=metrics,
        heartbeat=Heartbeat(factory, name, "scheduler"),
    )
    threads: list[threading.Thread] = []
    monitor = None
    if settings.rabbitmq_url is not None:
        monitor = QueueMonitor.from_settings(settings, factory)
        threads.append(
            threading.Thread(
                target=export_forever,
                args=(monitor, metrics, stop),
                name="queue-metrics",
                daemon=True,
            )
        )
    health = None
    if health_port is not None:
        patience = 3 * config.tick.total_seconds() + 30

        def live() -> bool:
            last = scheduler.last_tick_at
            return last is not None and time.monotonic() - last < patience

        health = HealthServer(health_port, live=live, ready=live, registry=metrics.registry).start()
    for thread in threads:
        thread.start()
    try:
        scheduler.serve(stop)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        if monitor is not None:
            monitor.close()
        if publisher is not None:
            publisher.close()
        if health is not None:
            health.stop()
        engine.dispose()
