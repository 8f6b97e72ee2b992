"""Sending extract requests to `etl.extract`, always after the run's row is committed (a worker
that takes the request must be able to read the run).

A request that cannot be sent fails its run with the reason, so the job's retry policy applies
and the admin sees why; a duplicate request is harmless (the extract worker holds a run lock
and drops a request for a run that is already being extracted or is over).
"""

from __future__ import annotations

import logging

from pika.exceptions import AMQPError

from connectors.extract.worker import ExtractRequest
from dataflows.rabbitmq import EXTRACT_QUEUE, ConfirmedPublisher
from pulse.errors import PulseError, RetriableError
from pulse.lifecycle import Closing
from storage.repositories.jobs import QueuedRun

log = logging.getLogger(__name__)


class ExtractDispatcher(Closing):
    """Publishes extract requests with confirms over one connection, opened on first use and
    reopened after a failure; not thread-safe. Without RabbitMQ (embedded mode) it sends
    nothing: the embedded pipeline runs queued runs itself."""

    def __init__(self, rabbitmq_url: str | None, *, name: str = "jobs") -> None:
        self._url = rabbitmq_url
        self._name = name
        self._publisher: ConfirmedPublisher | None = None

    @property
    def enabled(self) -> bool:
        return self._url is not None

    def send(self, run: QueuedRun) -> None:
        """Raises `RetriableError` when the broker did not confirm the request."""
        if self._url is None:
            log.debug("embedded mode: run %s stays queued for the in-process runner", run.run_id)
            return
        body = ExtractRequest(run.tenant_id, run.integration_id, run.run_id).to_json()
        try:
            if self._publisher is None:
                self._publisher = ConfirmedPublisher(self._url, name=f"{self._name}-dispatch")
            self._publisher.publish("", EXTRACT_QUEUE, body)
        except (PulseError, AMQPError) as exc:
            self.close()
            reason = exc.message if isinstance(exc, PulseError) else repr(exc)
            raise RetriableError(
                f"could not queue run {run.run_id} on {EXTRACT_QUEUE!r}: {reason}",
                tenant=run.tenant_id,
                job_run=run.run_id,
            ) from exc

    def close(self) -> None:
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None
