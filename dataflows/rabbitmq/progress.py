"""Progress hints on the `etl.progress` topic exchange (routing key `tenant.<id>.job.<id>`).

Progress events are hints: the UI reads the authoritative counts from `job_runs` whenever it
(re)connects, and each event carries the whole state of its run, so a lost event is repaired by
the next one. They are therefore published without confirms and as transient messages, which
keeps publishing them cheap enough to do several times a second per run.
"""

from __future__ import annotations

import logging
import time
from collections import deque

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError

from dataflows.rabbitmq.publisher import connect
from dataflows.rabbitmq.topology import PROGRESS_EXCHANGE
from pulse.errors import RetriableError
from pulse.lifecycle import Closing

log = logging.getLogger(__name__)

_HINT = pika.BasicProperties(content_type="application/json", delivery_mode=1)
SUBSCRIBER_QUEUE_MAX = 10_000  # a stalled subscriber loses old hints, not the broker's memory


def progress_routing_key(tenant_id: int, job_id: int) -> str:
    return f"tenant.{tenant_id}.job.{job_id}"


def progress_binding(tenant_id: int | None = None, job_id: int | None = None) -> str:
    """The binding of a subscriber: one job, one tenant's jobs, or everything."""
    tenant = "*" if tenant_id is None else str(tenant_id)
    job = "*" if job_id is None else str(job_id)
    return f"tenant.{tenant}.job.{job}"


class ProgressPublisher(Closing):
    """One connection, opened on first use and reopened after a failure; not thread-safe."""

    def __init__(self, url: str, *, name: str) -> None:
        self._url, self._name = url, name
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def publish(self, routing_key: str, body: bytes) -> None:
        channel = self._open()
        try:
            channel.basic_publish(PROGRESS_EXCHANGE, routing_key, body, properties=_HINT)
        except AMQPError as exc:
            self.close()
            raise RetriableError(
                f"publishing a progress event failed: {exc!r}", routing_key=routing_key
            ) from exc

    def _open(self) -> BlockingChannel:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self.close()
        self._connection = connect(self._url, name=self._name)
        try:
            channel = self._connection.channel()
            channel.exchange_declare(PROGRESS_EXCHANGE, "topic", durable=True)
        except AMQPError as exc:
            self.close()
            raise RetriableError(f"declaring {PROGRESS_EXCHANGE!r} failed: {exc!r}") from exc
        self._channel = channel
        return channel

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except AMQPError:
                log.debug("closing the progress publisher failed", exc_info=True)


class ProgressSubscriber(Closing):
    """An exclusive, auto-deleted, length-capped queue bound to `etl.progress`. Bound before
    the constructor returns, so no event published after it is missed. Not thread-safe: use
    it from the thread that made it."""

    def __init__(self, url: str, binding: str = "tenant.*.job.*", *, name: str) -> None:
        self._connection = connect(url, name=name)
        try:
            self._channel = self._connection.channel()
            self._channel.exchange_declare(PROGRESS_EXCHANGE, "topic", durable=True)
            declared = self._channel.queue_declare(
                "",
                exclusive=True,
                auto_delete=True,
                arguments={"x-max-length": SUBSCRIBER_QUEUE_MAX},
            )
            self.queue = declared.method.queue
            self._channel.queue_bind(self.queue, PROGRESS_EXCHANGE, routing_key=binding)
        except AMQPError as exc:
            self.close()
            raise RetriableError(f"subscribing to {PROGRESS_EXCHANGE!r} failed: {exc!r}") from exc
        self._inbox: deque[tuple[str, bytes]] = deque()
        self._channel.basic_consume(self.queue, self._on_message, auto_ack=True)

    def _on_message(
        self,
        _channel: BlockingChannel,
        method: pika.spec.Basic.Deliver,
        _properties: pika.BasicProperties,
        body: bytes,
    ) -> None:
        self._inbox.append((str(method.routing_key), body))

    def get(self, timeout: float) -> tuple[str, bytes] | None:
        """The next (routing key, body), or None when nothing came within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self._inbox:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                self._connection.process_data_events(time_limit=min(left, 0.5))
            except AMQPError as exc:
                raise RetriableError(f"the progress subscription broke: {exc!r}") from exc
        return self._inbox.popleft()

    def close(self) -> None:
        try:
            if self._connection.is_open:
                self._connection.close()
        except AMQPError:
            log.debug("closing the progress subscriber failed", exc_info=True)
