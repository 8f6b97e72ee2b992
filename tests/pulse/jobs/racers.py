"""Run in a separate process (multiprocessing, spawn): click "run now" on a job at the same
moment as another process, and report what happened."""

from __future__ import annotations

from multiprocessing.synchronize import Barrier
from queue import Queue

from pulse.jobs import ExtractDispatcher, JobActionError, JobService
from storage.db import make_engine, session_factory


def run_now(
    database_url: str,
    rabbitmq_url: str,
    tenant_id: int,
    job_id: int,
    rounds: int,
    barrier: Barrier,
    results: Queue[tuple[int, str]],
) -> None:
    engine = make_engine(database_url)
    dispatcher = ExtractDispatcher(rabbitmq_url, name="racer")
    service = JobService(session_factory(engine), dispatcher, max_retries=3, engine=engine)
    try:
        for round_ in range(rounds):
            barrier.wait(timeout=60)  # both processes are connected and ready
            try:
                run = service.run_now(tenant_id, job_id)
                results.put((round_, f"run {run.id}"))
            except JobActionError as exc:
                results.put((round_, f"refused: {exc}"))
            barrier.wait(timeout=60)  # the test resets the job between rounds
            barrier.wait(timeout=60)
    finally:
        dispatcher.close()
        engine.dispose()
