"""Every exchange and queue Pulse uses, declared in one place (idempotent declarations).

* `etl.extract`   quorum queue of job-run requests; delivery limit + dead-lettering.
* `etl.raw.<p>`   stream partitions fed through the direct exchange `etl.raw` (routing key p).
* `etl.load.<p>`  stream partitions fed through `etl.load`.
* `etl.vectorize` quorum queue of vectorize requests; delivery limit + dead-lettering.
* `etl.progress`  topic exchange of progress hints, routing key `tenant.<id>.job.<id>`.
* `etl.dlx`       direct exchange for dead letters; `etl.dead.<source>` queues keep them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pika.adapters.blocking_connection import BlockingChannel

EXTRACT_QUEUE = "etl.extract"
VECTORIZE_QUEUE = "etl.vectorize"
PROGRESS_EXCHANGE = "etl.progress"
DEAD_LETTER_EXCHANGE = "etl.dlx"
STREAM_STAGES = ("raw", "load")
# Streams keep a week or 20 GB per partition; the outbox sweeper covers a longer outage.
STREAM_MAX_AGE = "7D"
STREAM_MAX_BYTES = 20 * 1024**3


@dataclass(frozen=True, slots=True)
class Topology:
    partitions: int
    max_deliveries: int  # ETL_MAX_RETRIES: deliveries of a work-queue message before it dies

    @staticmethod
    def exchange(stage: str) -> str:
        return f"etl.{stage}"

    @staticmethod
    def stream(stage: str, partition: int) -> str:
        return f"etl.{stage}.{partition}"

    @staticmethod
    def dead_queue(source: str) -> str:
        return f"etl.dead.{source.removeprefix('etl.')}"

    def streams(self, stage: str) -> list[str]:
        return [self.stream(stage, p) for p in range(self.partitions)]

    def declare_at(self, url: str, *, name: str = "topology") -> None:
        """`declare` on a connection of its own, closed after."""
        from dataflows.rabbitmq.publisher import connect  # publisher needs nothing from here

        connection = connect(url, name=name)
        try:
            self.declare(connection.channel())
        finally:
            connection.close()

    def declare(self, channel: BlockingChannel) -> None:
        channel.exchange_declare(DEAD_LETTER_EXCHANGE, "direct", durable=True)
        for queue in (EXTRACT_QUEUE, VECTORIZE_QUEUE):
            self._declare_work_queue(channel, queue)
        for stage in STREAM_STAGES:
            self._declare_streams(channel, stage)
        channel.exchange_declare(PROGRESS_EXCHANGE, "topic", durable=True)

    def _declare_work_queue(self, channel: BlockingChannel, queue: str) -> None:
        dead = self.dead_queue(queue)
        channel.queue_declare(dead, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(dead, DEAD_LETTER_EXCHANGE, routing_key=queue)
        arguments: dict[str, Any] = {
            "x-queue-type": "quorum",
            "x-delivery-limit": max(self.max_deliveries, 1),
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": queue,
        }
        channel.queue_declare(queue, durable=True, arguments=arguments)

    def _declare_streams(self, channel: BlockingChannel, stage: str) -> None:
        exchange = self.exchange(stage)
        channel.exchange_declare(exchange, "direct", durable=True)
        dead = self.dead_queue(exchange)
        channel.queue_declare(dead, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(dead, DEAD_LETTER_EXCHANGE, routing_key=exchange)
        for partition in range(self.partitions):
            name = self.stream(stage, partition)
            channel.queue_declare(
                name,
                durable=True,
                arguments={
                    "x-queue-type": "stream",
                    "x-max-age": STREAM_MAX_AGE,
                    "x-max-length-bytes": STREAM_MAX_BYTES,
                },
            )
            channel.queue_bind(name, exchange, routing_key=str(partition))
