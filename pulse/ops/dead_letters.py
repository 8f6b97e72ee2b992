"""Dead letters: list, requeue (send the stored message back to where it came from and mark
it resolved) and discard. For the CLI (`pulse dead-letters`) and the web's queues page.

How a dead letter goes back depends on its source:

* `etl.extract`: the run failed with it, so its run is reopened (queued again, continuing from
  its checkpoints) and the request re-published. Refused when the job has moved on.
* `etl.vectorize`: the request is re-published as it was (embedding is idempotent).
* `etl.raw*` (a record the transform refused): the raw record goes back through the outbox,
  unprocessed, and from there through transform and load — useful after a mapping fix.
* `etl.load` (a batch the loader refused): the load message is re-published to its tenant's
  `etl.load` partition.

The row is locked while this happens, so two operators requeueing at once publish it once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from dataflows.rabbitmq import EXTRACT_QUEUE, VECTORIZE_QUEUE, ConfirmedPublisher, Topology
from pulse.errors import FatalError
from pulse.messages import partition_for
from storage import dead_letters, run_state
from storage.db import transaction
from storage.schema import DeadLetter

log = logging.getLogger(__name__)

# (exchange, routing key, body) → returns once the broker confirmed it
Publish = Callable[[str, str, bytes], None]


class DeadLetterError(FatalError):
    """The dead letter cannot be requeued (or does not exist); the message says why."""


class DeadLetters:
    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        rabbitmq_url: str | None,
        partitions: int,
        publish: Publish | None = None,
    ) -> None:
        self._factory = factory
        self._url = rabbitmq_url
        self._partitions = partitions
        self._publish = publish

    def find(
        self,
        *,
        tenant_id: int | None = None,
        status: str | None = "open",
        stage: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[DeadLetter]:
        with self._factory() as session:
            return dead_letters.list_dead_letters(
                session,
                tenant_id=tenant_id,
                status=status,
                stage=stage,
                limit=limit,
                before_id=before_id,
            )

    def discard(self, dead_letter_id: int, *, tenant_id: int | None = None) -> None:
        with transaction(self._factory) as session:
            self._open(session, dead_letter_id, tenant_id)
            dead_letters.resolve(session, dead_letter_id, "discarded")

    def requeue(self, dead_letter_id: int, *, tenant_id: int | None = None) -> str:
        """Send it back; returns what was done, in words."""
        with transaction(self._factory) as session:
            row = self._open(session, dead_letter_id, tenant_id)
            source = row.source_queue or ""
            if source == EXTRACT_QUEUE:
                done = self._requeue_extract(session, row)
            elif source == VECTORIZE_QUEUE:
                self._send("", VECTORIZE_QUEUE, row.message.encode())
                done = f"re-published to {VECTORIZE_QUEUE}"
            elif source.startswith("etl.raw") or source == "embedded.raw":
                done = self._requeue_raw(session, row)
            elif source.startswith("etl.load"):
                done = self._requeue_load(row)
            else:
                raise DeadLetterError(
                    f"dead letter {row.id} came from {source or 'an unknown source'!r}, which "
                    "cannot be requeued; discard it"
                )
            dead_letters.resolve(session, row.id, "requeued")
        log.info("dead letter %s requeued: %s", dead_letter_id, done)
        return done

    def _open(self, session: Session, dead_letter_id: int, tenant_id: int | None) -> DeadLetter:
        row = dead_letters.lock_open_dead_letter(session, dead_letter_id, tenant_id=tenant_id)
        if row is None:
            raise DeadLetterError(f"dead letter {dead_letter_id} is not open (or does not exist)")
        return row

    def _requeue_extract(self, session: Session, row: DeadLetter) -> str:
        if row.job_run_id is None:
            raise DeadLetterError(
                f"dead letter {row.id} is not an extract request (no run); discard it"
            )
        if not run_state.reopen_failed_run(session, row.job_run_id):
            raise DeadLetterError(
                f"run {row.job_run_id} cannot be reopened: it is not failed, or its job has "
                "started another run since; start a new run instead"
            )
        self._send("", EXTRACT_QUEUE, row.message.encode())
        return f"run {row.job_run_id} reopened and re-published to {EXTRACT_QUEUE}"

    def _requeue_raw(self, session: Session, row: DeadLetter) -> str:
        raw_id = _json_field(row.message, "raw_id")
        if not isinstance(raw_id, int) or row.tenant_id is None:
            raise DeadLetterError(
                f"dead letter {row.id} holds no raw record (a malformed message); discard it"
            )
        queued = dead_letters.requeue_raw_records(
            session, [raw_id], tenant_id=row.tenant_id, partitions=self._partitions
        )
        if not queued:
            raise DeadLetterError(f"raw record {raw_id} of dead letter {row.id} no longer exists")
        return f"raw record {raw_id} queued for transform and load again"

    def _requeue_load(self, row: DeadLetter) -> str:
        tenant = _json_field(row.message, "tenant_id")
        if not isinstance(tenant, int) or "outputs" not in row.message:
            raise DeadLetterError(f"dead letter {row.id} is not a load message; discard it")
        partition = partition_for(tenant, self._partitions)
        self._send(Topology.exchange("load"), str(partition), row.message.encode())
        return f"re-published to {Topology.stream('load', partition)}"

    def _send(self, exchange: str, routing_key: str, body: bytes) -> None:
        if self._publish is not None:
            self._publish(exchange, routing_key, body)
            return
        if self._url is None:
            raise DeadLetterError("requeueing this dead letter needs RABBITMQ_URL")
        with ConfirmedPublisher(self._url, name="dead-letter-requeue") as publisher:
            publisher.publish(exchange, routing_key, body)


def _json_field(message: str, name: str) -> object:
    try:
        data = json.loads(message)
    except ValueError:
        return None
    return data.get(name) if isinstance(data, dict) else None
