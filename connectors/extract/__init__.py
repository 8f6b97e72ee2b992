"""Extraction plumbing: the run driver, the stream factory, the AMQP worker, the outbox relay."""

from connectors.extract.factory import StreamFactory
from connectors.extract.relay import OutboxRelay, relay_once
from connectors.extract.runner import ExtractRunner, Outcome, RunResult
from connectors.extract.worker import ExtractRequest, ExtractWorker

__all__ = [
    "ExtractRequest",
    "ExtractRunner",
    "ExtractWorker",
    "OutboxRelay",
    "Outcome",
    "RunResult",
    "StreamFactory",
    "relay_once",
]
