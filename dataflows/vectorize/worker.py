"""`pulse vectorize`: consumes `etl.vectorize` and embeds in batches.

* Gathering: up to `prefetch` requests, or what arrived within `max_delay` of the first one,
  are embedded together — the model's throughput comes from batches, and a load window sends
  one request per (integration, entity) and 100 facts. The last request of a batch is acked
  when the whole batch is done, so `prefetch` x 100 facts must embed well within RabbitMQ's
  `consumer_timeout` (30 min by default), or the broker takes the deliveries back.
* Acks come after Qdrant and vector_points are written (`pipeline.vectorize_group`); killed
  before that, the broker redelivers and the deterministic point ids make the redo harmless.
* Failure isolation: requests are grouped by embedder (the local model is shared; a tenant's
  own endpoint is its own group). A group that fails is retried request by request, so one
  poison request does not take its neighbours' deliveries with it.
* Retries: a retriable failure is nacked with requeue after a short backoff, until its
  `ETL_MAX_RETRIES`-th delivery (the broker's `x-delivery-count`); that one, and any fatal
  failure, is recorded in `dead_letters` with its error and rejected into `etl.dead.vectorize`.
  The quorum queue's own delivery limit is the backstop for a worker that dies on a request.
* A body that is not a vectorize request is recorded in `dead_letters` and acked.
* SIGTERM/SIGINT (`stop()`) finish the batch in hand, cancel the consumer and close.

pika is not thread-safe: everything here runs on the thread that calls `serve`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from dataflows.rabbitmq import VECTORIZE_QUEUE, Topology, connect
from dataflows.vectorize.embedders import TenantEmbedders
from dataflows.vectorize.pipeline import STAGE, VectorizeResult, vectorize_group
from dataflows.vectorize.providers import Embedder
from dataflows.vectorize.store import QdrantStore
from pulse.errors import ErrorKind, PulseError, RetriableError
from pulse.messages import MessageError, VectorizeRequest
from pulse.ops.metrics import Metrics
from storage import run_state
from storage.db import transaction
from storage.heartbeats import Heartbeat

__all__ = ["VectorizeWorker"]

log = logging.getLogger(__name__)

_MAX_BACKOFF = 30.0


@dataclass(slots=True)
class _Delivery:
    tag: int
    attempt: int  # 1 for the first delivery
    body: bytes
    request: VectorizeRequest | None = None


@dataclass(slots=True)
class _Failure:
    delivery: _Delivery
    error: PulseError


class VectorizeWorker:
    def __init__(
        self,
        factory: sessionmaker[Session],
        embedder: Embedder | TenantEmbedders,
        store: QdrantStore,
        *,
        rabbitmq_url: str,
        topology: Topology,
        name: str = "vectorize",
        prefetch: int = 64,
        max_delay: float = 0.2,
        retry_backoff: float = 1.0,
        heartbeat: Heartbeat | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._factory = factory
        self._embedder = embedder
        self._store = store
        self._url = rabbitmq_url
        self._topology = topology
        self._max_deliveries = max(topology.max_deliveries, 1)
        self._name = name
        self._prefetch = max(prefetch, 1)
        self._max_delay = max_delay
        self._backoff = retry_backoff
        self._heartbeat = heartbeat
        self._metrics = metrics
        self._stop = threading.Event()
        self._pending: list[_Delivery] = []
        self._first_at = 0.0
        self.settled = 0  # deliveries acked, nacked or rejected
        self.totals = VectorizeResult()

    def stop(self) -> None:
        """Safe from a signal handler or another thread: the loop checks it between batches."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait(self, seconds: float) -> None:
        """Sleep, cut short by `stop()`."""
        self._stop.wait(seconds)

    def serve(self, *, max_settled: int | None = None) -> None:
        """Consume until `stop()` (or, for tests and benches, `max_settled` deliveries).
        Raises when the connection is lost: what was not acked is the broker's again."""
        self._pending = []
        connection = connect(self._url, name=self._name)
        try:
            channel = connection.channel()
            self._topology.declare(channel)
            channel.basic_qos(prefetch_count=self._prefetch)
            consumer = channel.basic_consume(VECTORIZE_QUEUE, on_message_callback=self._on_message)
            log.info("vectorize worker %s consuming %s", self._name, VECTORIZE_QUEUE)
            while not self._stop.is_set():
                connection.process_data_events(time_limit=self._wait())
                if self._pending and (
                    len(self._pending) >= self._prefetch
                    or time.monotonic() - self._first_at >= self._max_delay
                ):
                    self._flush(connection, channel)
                self._beat(busy=False)
                if max_settled is not None and self.settled >= max_settled:
                    break
            channel.basic_cancel(consumer)  # pika requeues what it had not dispatched yet
            if self._pending:
                self._flush(connection, channel)
        finally:
            try:
                if connection.is_open:
                    connection.close()
            except pika.exceptions.AMQPError:
                log.debug("closing the vectorize consumer failed", exc_info=True)

    def _wait(self) -> float:
        if not self._pending:
            return 0.5
        return max(0.0, self._first_at + self._max_delay - time.monotonic())

    def _on_message(
        self,
        _channel: BlockingChannel,
        method: Any,
        properties: pika.BasicProperties,
        body: bytes,
    ) -> None:
        if not self._pending:
            self._first_at = time.monotonic()
        count = int((properties.headers or {}).get("x-delivery-count", 0))
        self._pending.append(_Delivery(method.delivery_tag, count + 1, body))

    def _flush(self, connection: pika.BlockingConnection, channel: BlockingChannel) -> None:
        batch, self._pending = self._pending, []
        self._beat(busy=True, requests=len(batch))
        failures: list[_Failure] = []
        groups: dict[int, tuple[Embedder, list[_Delivery]]] = {}
        chosen_for: dict[int, Embedder] = {}  # one integration lookup per tenant and batch
        for delivery in batch:
            try:
                delivery.request = VectorizeRequest.from_json(delivery.body)
            except MessageError as exc:
                self._count_error(ErrorKind.FATAL)
                self._record(delivery, f"not a vectorize request: {exc}")
                self._settle(channel.basic_ack, delivery)
                continue
            tenant = delivery.request.tenant_id
            try:
                chosen = chosen_for.get(tenant) or self._embedder_for(tenant)
            except Exception as exc:
                failures.append(_Failure(delivery, _as_pulse_error(exc)))
                continue
            chosen_for[tenant] = chosen
            groups.setdefault(id(chosen), (chosen, []))[1].append(delivery)
        for chosen, deliveries in groups.values():
            failures.extend(self._run_group(channel, chosen, deliveries))
        self._settle_failures(connection, channel, failures)

    def _embedder_for(self, tenant_id: int) -> Embedder:
        if isinstance(self._embedder, TenantEmbedders):
            return self._embedder.for_tenant(tenant_id)
        return self._embedder

    def _run_group(
        self, channel: BlockingChannel, embedder: Embedder, deliveries: list[_Delivery]
    ) -> list[_Failure]:
        try:
            self._vectorize(embedder, deliveries)
        except Exception as exc:
            if len(deliveries) == 1:
                return [_Failure(deliveries[0], _as_pulse_error(exc))]
            log.warning(
                "a batch of %s requests failed (%s); retrying them one by one",
                len(deliveries),
                exc,
            )
            failures = []
            for delivery in deliveries:
                failures.extend(self._run_group(channel, embedder, [delivery]))
            return failures
        for delivery in deliveries:
            self._settle(channel.basic_ack, delivery)
        return []

    def _vectorize(self, embedder: Embedder, deliveries: Sequence[_Delivery]) -> None:
        requests = [d.request for d in deliveries if d.request is not None]
        result = vectorize_group(self._factory, embedder, self._store, requests)
        self.totals.add(result)
        if self._metrics is not None:
            self._metrics.records.labels(STAGE).inc(result.embedded)
        log.debug(
            "vectorized",
            extra={"requests": len(requests), "embedded": result.embedded, "gone": result.gone},
        )

    def _settle_failures(
        self,
        connection: pika.BlockingConnection,
        channel: BlockingChannel,
        failures: list[_Failure],
    ) -> None:
        retry = [
            f
            for f in failures
            if isinstance(f.error, RetriableError) and f.delivery.attempt < self._max_deliveries
        ]
        retried = {id(f) for f in retry}
        if retry:
            # One pause for the whole batch, honouring the longest Retry-After; the connection
            # stays serviced meanwhile.
            delay = max(self._delay(f) for f in retry)
            connection.sleep(min(delay, _MAX_BACKOFF))
        for failure in failures:
            delivery, error = failure.delivery, failure.error
            self._count_error(error.kind)
            if id(failure) in retried:
                log.warning(
                    "vectorize request failed on delivery %s of %s, requeued: %s",
                    delivery.attempt,
                    self._max_deliveries,
                    error,
                )
                self._settle(lambda tag: channel.basic_nack(tag, requeue=True), delivery)
                continue
            self._record(delivery, str(error))
            self._settle(lambda tag: channel.basic_reject(tag, requeue=False), delivery)
            log.error(
                "vectorize request dead-lettered after %s deliveries: %s", delivery.attempt, error
            )

    def _delay(self, failure: _Failure) -> float:
        asked = getattr(failure.error, "retry_after", None)
        if asked is not None:
            return float(asked)
        return self._backoff * 2 ** (failure.delivery.attempt - 1)

    def _settle(self, action: Any, delivery: _Delivery) -> None:
        action(delivery.tag)
        self.settled += 1

    def _record(self, delivery: _Delivery, error: str) -> None:
        """A dead_letters row; the ids it names are kept when they exist (a forged or stale
        message may name a tenant or run that does not: then the row keeps only the text)."""
        request = delivery.request
        message = delivery.body.decode(errors="replace")
        try:
            with transaction(self._factory) as session:
                run_state.record_dead_letter(
                    session,
                    stage=STAGE,
                    source_queue=VECTORIZE_QUEUE,
                    message=message,
                    error=error,
                    attempts=delivery.attempt,
                    tenant_id=request.tenant_id if request else None,
                    integration_id=request.integration_id if request else None,
                    job_run_id=request.job_run_id if request else None,
                    entity=request.entity if request else None,
                )
        except IntegrityError:
            with transaction(self._factory) as session:
                run_state.record_dead_letter(
                    session,
                    stage=STAGE,
                    source_queue=VECTORIZE_QUEUE,
                    message=message,
                    error=error,
                    attempts=delivery.attempt,
                    entity=request.entity if request else None,
                )

    def _count_error(self, kind: ErrorKind) -> None:
        if self._metrics is not None:
            self._metrics.errors.labels(STAGE, kind.value).inc()

    def _beat(self, **detail: Any) -> None:
        if self._heartbeat is None:
            return
        try:
            self._heartbeat.beat(settled=self.settled, embedded=self.totals.embedded, **detail)
        except Exception:  # liveness reporting must never stop the work
            log.warning("heartbeat failed", exc_info=True)


def _as_pulse_error(exc: Exception) -> PulseError:
    """A Pulse error as it is; anything else (a database outage, a bug) is worth a retry, and
    after the last delivery it is dead-lettered with its text."""
    if isinstance(exc, PulseError):
        return exc
    return RetriableError(f"vectorize failed: {exc!r}")
