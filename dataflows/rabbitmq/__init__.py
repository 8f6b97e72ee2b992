"""The one module that talks AMQP: topology, confirmed publishing, stream consumption."""

from dataflows.rabbitmq.publisher import ConfirmedPublisher, connect
from dataflows.rabbitmq.stream_sink import PipelinedPublisher, StreamSink
from dataflows.rabbitmq.stream_source import StreamMessage, StreamSource, shard_partitions
from dataflows.rabbitmq.topology import (
    DEAD_LETTER_EXCHANGE,
    EXTRACT_QUEUE,
    PROGRESS_EXCHANGE,
    VECTORIZE_QUEUE,
    Topology,
)

__all__ = [
    "DEAD_LETTER_EXCHANGE",
    "EXTRACT_QUEUE",
    "PROGRESS_EXCHANGE",
    "VECTORIZE_QUEUE",
    "ConfirmedPublisher",
    "PipelinedPublisher",
    "StreamMessage",
    "StreamSink",
    "StreamSource",
    "Topology",
    "connect",
    "shard_partitions",
]
