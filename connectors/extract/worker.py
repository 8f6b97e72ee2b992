"""`pulse extract`: consumes job-run requests from `etl.extract` and runs them.

* The request is acked only after the run's last page committed (or the run ended otherwise:
  cancelled, rate limited, failed for good). Killed mid-run, the broker redelivers it and the
  next worker resumes from the checkpoints.
* One run is worked on by one worker at a time: a PostgreSQL advisory lock on the job, held on
  a dedicated connection, so a duplicate request (or a redelivery while the first worker still
  runs) is acked and dropped instead of running the job twice.
* A transient failure requeues the request; after `ETL_MAX_RETRIES` deliveries it is
  dead-lettered (`etl.dead.extract`) with its error in `dead_letters`, and the run fails.
* The extraction runs in a thread while the main thread services the AMQP connection, because
  pika is not thread-safe and a long run must not starve the connection.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from connectors.extract.runner import ExtractRunner, Outcome, RunResult
from dataflows.rabbitmq import EXTRACT_QUEUE, Topology, connect
from pulse.errors import ErrorKind, PulseError, RetriableError
from pulse.messages import MessageError
from pulse.ops.metrics import Metrics
from storage import run_state
from storage.db import transaction
from storage.heartbeats import Heartbeat

log = logging.getLogger(__name__)

_LOCK_NAMESPACE = 0x50554C53  # "PULS": advisory locks of extract runs


@dataclass(frozen=True, slots=True)
class ExtractRequest:
    tenant_id: int
    integration_id: int
    job_run_id: int

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "schema_version": 1,
                "tenant_id": self.tenant_id,
                "integration_id": self.integration_id,
                "job_run_id": self.job_run_id,
            }
        ).encode()

    @classmethod
    def from_json(cls, body: bytes) -> ExtractRequest:
        try:
            data = json.loads(body)
            return cls(int(data["tenant_id"]), int(data["integration_id"]), int(data["job_run_id"]))
        except (ValueError, TypeError, KeyError, json.JSONDecodeError) as exc:
            raise MessageError(f"not an extract request: {exc!r}") from None


@contextmanager
def run_lock(engine: Engine, job_run_id: int) -> Iterator[bool]:
    """Yields True while this process exclusively holds the run (always True on SQLite, where
    the embedded mode runs one process)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as connection:
        held = bool(
            connection.execute(
                text("SELECT pg_try_advisory_lock(:ns, :run)"),
                {"ns": _LOCK_NAMESPACE, "run": job_run_id},
            ).scalar()
        )
        try:
            yield held
        finally:
            if held:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:ns, :run)"),
                    {"ns": _LOCK_NAMESPACE, "run": job_run_id},
                )
            connection.commit()


class ExtractWorker:
    def __init__(
        self,
        engine: Engine,
        factory: sessionmaker[Session],
        runner: ExtractRunner,
        *,
        rabbitmq_url: str,
        topology: Topology,
        max_retries: int,
        name: str = "extract",
        heartbeat: Heartbeat | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._engine = engine
        self._factory = factory
        self._runner = runner
        self._url = rabbitmq_url
        self._topology = topology
        self._max_retries = max(max_retries, 1)
        self._name = name
        self._stop = threading.Event()
        self._heartbeat = heartbeat
        self._metrics = metrics
        self.handled = 0

    def stop(self) -> None:
        self._stop.set()

    def serve(self, *, max_requests: int | None = None) -> None:
        connection = connect(self._url, name=self._name)
        channel = connection.channel()
        self._topology.declare(channel)
        channel.basic_qos(prefetch_count=1)
        try:
            for method, properties, body in channel.consume(EXTRACT_QUEUE, inactivity_timeout=0.5):
                if self._stop.is_set():
                    break
                self._beat(busy=False)
                if method is None:
                    continue
                self._handle(connection, channel, method, properties, body)
                self.handled += 1
                if max_requests is not None and self.handled >= max_requests:
                    break
        finally:
            try:
                channel.cancel()
                connection.close()
            except pika.exceptions.AMQPError:
                log.debug("closing the extract consumer failed", exc_info=True)

    def _handle(
        self,
        connection: pika.BlockingConnection,
        channel: BlockingChannel,
        method: Basic.Deliver,
        properties: pika.BasicProperties,
        body: bytes,
    ) -> None:
        tag = method.delivery_tag
        attempt = int((properties.headers or {}).get("x-delivery-count", 0)) + 1
        try:
            request = ExtractRequest.from_json(body)
        except MessageError as exc:
            self._count_error(ErrorKind.FATAL)
            self._dead_letter(channel, tag, body, str(exc), attempt, request=None)
            return
        outcome: dict[str, Any] = {}
        thread = threading.Thread(
            target=self._run_guarded,
            args=(request, outcome),
            name=f"extract-run-{request.job_run_id}",
        )
        thread.start()
        while thread.is_alive():
            connection.process_data_events(time_limit=0.5)  # keeps the connection serviced
            self._beat(busy=True, job_run_id=request.job_run_id)
        error = outcome.get("error")
        result = outcome.get("result")
        if error is not None:
            self._count_error(error.kind)
        elif result is not None and result.outcome is Outcome.FAILED:
            self._count_error(ErrorKind.FATAL)
        if error is None:
            channel.basic_ack(tag)
            return
        if isinstance(error, RetriableError) and attempt < self._max_retries:
            log.warning(
                "run %s attempt %s failed, requeued: %s", request.job_run_id, attempt, error
            )
            channel.basic_nack(tag, requeue=True)
            return
        self._dead_letter(channel, tag, body, str(error), attempt, request=request)

    def _count_error(self, kind: ErrorKind) -> None:
        if self._metrics is not None:
            self._metrics.errors.labels("extract", kind.value).inc()

    def _beat(self, **detail: Any) -> None:
        if self._heartbeat is not None:
            try:
                self._heartbeat.beat(**detail)
            except Exception:  # liveness reporting must never stop the work
                log.warning("heartbeat failed", exc_info=True)

    def _run_guarded(self, request: ExtractRequest, outcome: dict[str, Any]) -> None:
        try:
            with run_lock(self._engine, request.job_run_id) as held:
                if not held:
                    log.info(
                        "run %s is being extracted elsewhere; dropping duplicate request",
                        request.job_run_id,
                    )
                    outcome["result"] = RunResult(Outcome.ALREADY_DONE, detail="held elsewhere")
                    return
                outcome["result"] = self._runner.run(request.job_run_id)
        except PulseError as exc:
            outcome["error"] = exc
        except Exception as exc:  # a bug or an outage: requeue, the next attempt resumes
            log.exception("run %s crashed", request.job_run_id)
            outcome["error"] = RetriableError(
                f"extract crashed: {exc!r}", job_run_id=request.job_run_id
            )

    def _dead_letter(
        self,
        channel: BlockingChannel,
        tag: int,
        body: bytes,
        error: str,
        attempt: int,
        *,
        request: ExtractRequest | None,
    ) -> None:
        with transaction(self._factory) as session:
            run_state.record_dead_letter(
                session,
                stage="extract",
                source_queue=EXTRACT_QUEUE,
                message=body.decode(errors="replace"),
                error=error,
                attempts=attempt,
                tenant_id=request.tenant_id if request else None,
                integration_id=request.integration_id if request else None,
                job_run_id=request.job_run_id if request else None,
            )
            if request is not None:
                run_state.fail_run(
                    session, request.job_run_id, error, max_retries=self._max_retries
                )
        channel.basic_reject(tag, requeue=False)  # the queue's DLX keeps the message
        log.error("extract request dead-lettered after %s attempts: %s", attempt, error)
