"""Publishing with publisher confirms. Returns only once the broker has confirmed every message,
so callers may mark work as sent (the outbox) or let a dataflow epoch close."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError, NackError, UnroutableError

from pulse.errors import RetriableError
from pulse.lifecycle import Closing

log = logging.getLogger(__name__)

PERSISTENT = pika.BasicProperties(content_type="application/json", delivery_mode=2)


def connect(url: str, *, name: str) -> pika.BlockingConnection:
    params = pika.URLParameters(url)
    params.client_properties = {"connection_name": name}
    # Long HTTP calls or dataflow backpressure can keep a blocking connection from servicing
    # heartbeats; TCP keepalive detects dead peers instead (see docs/ notes on pika).
    params.heartbeat = 0
    params.tcp_options = {"TCP_KEEPIDLE": 60, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 6}
    params.blocked_connection_timeout = 300
    try:
        return pika.BlockingConnection(params)
    except AMQPError as exc:
        raise RetriableError(f"cannot connect to RabbitMQ: {exc!r}", connection=name) from exc


class ConfirmedPublisher(Closing):
    """One connection and channel in confirm mode; not thread-safe (pika is not)."""

    def __init__(self, url: str, *, name: str) -> None:
        self._connection = connect(url, name=name)
        self._channel: BlockingChannel = self._connection.channel()
        self._channel.confirm_delivery()

    @property
    def channel(self) -> BlockingChannel:
        return self._channel

    def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        properties: pika.BasicProperties = PERSISTENT,
    ) -> None:
        """Publish one message and wait for its confirm; unroutable is an error, not a drop."""
        try:
            self._channel.basic_publish(
                exchange, routing_key, body, properties=properties, mandatory=True
            )
        except UnroutableError as exc:
            raise RetriableError(
                f"message to {exchange!r}/{routing_key!r} was unroutable (topology missing?)"
            ) from exc
        except NackError as exc:
            raise RetriableError(f"broker refused message to {exchange!r}") from exc
        except AMQPError as exc:
            raise RetriableError(f"publishing to {exchange!r} failed: {exc!r}") from exc

    def publish_many(self, exchange: str, messages: Iterable[tuple[str, bytes]]) -> int:
        count = 0
        for routing_key, body in messages:
            self.publish(exchange, routing_key, body)
            count += 1
        return count

    def close(self) -> None:
        try:
            if self._connection.is_open:
                self._connection.close()
        except AMQPError:
            log.debug("ignoring error while closing a publisher connection", exc_info=True)
