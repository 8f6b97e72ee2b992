"""The load stage: a tenant's `LoadMessage`s → one PostgreSQL transaction → vectorize requests.

`LoadStage.load(tenant_id, messages)` is the whole stage as a plain call (the Bytewax sink in
`dataflows.load_flow` and the embedded pipeline both use it):

* the messages' outputs are merged with `LoadBatch.from_outputs` (the newest record of each item
  wins, children travel with their parent) and applied by `storage.loader.load_batch` in one
  transaction, raw records marked processed and run counts recomputed in that same transaction;
* the records of a cancelled run are dropped (their raw records still marked processed); the
  check locks the runs' rows in the load's transaction, so nothing of a run is written after
  its cancel committed;
* a batch the loader refuses (`LoadError`) is retried message by message, so one bad message is
  dead-lettered (its raw records marked processed) and the others load;
* a transient database error is retried with backoff, then raised: the dataflow stops and its
  restart replays the epoch, which the version guard makes harmless;
* only after the commit are vectorize requests handed to `request_vectors` for the facts whose
  embedded text changed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from dataflows.dead_letters import DeadLetterWriter
from dataflows.records import DeadItem
from pulse.messages import LoadMessage, VectorizeRequest
from storage import run_state
from storage.db import transaction
from storage.loader import ChangedFact, LoadBatch, LoadError, TransientLoadError, load_batch
from storage.loader_sql import database_error

log = logging.getLogger(__name__)

LOAD_SOURCE = "etl.load"
VECTORIZE_CHUNK = 100  # facts per vectorize request
RequestVectors = Callable[[Sequence[VectorizeRequest]], None]


@dataclass(slots=True)
class LoadCounts:
    messages: int = 0
    written: int = 0
    dead: int = 0
    vectorize_requests: int = 0


class LoadStage:
    def __init__(
        self,
        factory: sessionmaker[Session],
        dead_letters: DeadLetterWriter,
        request_vectors: RequestVectors | None = None,
        *,
        retries: int = 3,
        backoff_seconds: float = 0.5,
    ) -> None:
        self._factory = factory
        self._dead = dead_letters
        self._request_vectors = request_vectors
        self._retries = retries
        self._backoff = backoff_seconds

    def load(self, tenant_id: int, messages: Sequence[LoadMessage]) -> LoadCounts:
        counts = LoadCounts(messages=len(messages))
        try:
            changed = self._commit(tenant_id, messages, counts)
        except LoadError as exc:
            if len(messages) == 1:
                self._dead_letter(messages[0], exc, counts)
                return counts
            log.warning("batch of %s messages refused (%s); loading one by one", len(messages), exc)
            changed = []
            for message in messages:
                try:
                    changed += self._commit(tenant_id, [message], counts)
                except LoadError as single:
                    self._dead_letter(message, single, counts)
        if self._request_vectors is not None and changed:
            requests = vectorize_requests(tenant_id, changed, _only_run(messages))
            self._request_vectors(requests)
            counts.vectorize_requests += len(requests)
        return counts

    def _commit(
        self, tenant_id: int, messages: Sequence[LoadMessage], counts: LoadCounts
    ) -> list[ChangedFact]:
        runs = {run for message in messages for run in message.job_run_ids}
        for attempt in range(self._retries + 1):
            try:
                with transaction(self._factory) as session:
                    cancelled = _lock_runs(session, tenant_id, runs)
                    result = load_batch(session, _batch(tenant_id, messages, cancelled))
                break
            except TransientLoadError:
                if attempt == self._retries:
                    raise
                time.sleep(self._backoff * 2**attempt)
        counts.written += result.total_written
        return result.changed

    def _dead_letter(self, message: LoadMessage, exc: LoadError, counts: LoadCounts) -> None:
        log.error("load message of tenant %s dead-lettered: %s", message.tenant_id, exc)
        runs = message.job_run_ids
        self._dead.write(
            [
                DeadItem(
                    stage="load",
                    source_queue=LOAD_SOURCE,
                    error=str(exc),
                    message=message.to_json().decode(),
                    tenant_id=message.tenant_id,
                    job_run_id=runs[0] if len(runs) == 1 else None,
                )
            ],
            # Its records failed for good: processed, so their runs can complete.
            processed_raw_ids=[*message.raw_ids, *message.dead_raw_ids],
        )
        counts.dead += 1


def _lock_runs(session: Session, tenant_id: int, runs: set[int]) -> set[int]:
    """The cancelled runs among `runs`, whose rows stay locked until the load commits: a
    cancel committed before is seen, a later one waits, so nothing of a run loads after it."""
    try:
        return run_state.lock_cancelled_runs(session, runs)
    except SQLAlchemyError as exc:
        raise database_error(exc, "locking the batch's runs failed", tenant=tenant_id) from exc


def _batch(tenant_id: int, messages: Sequence[LoadMessage], cancelled: set[int]) -> LoadBatch:
    """The messages' outputs merged, without those of cancelled runs; every raw record is
    marked processed all the same, so the dropped ones are not sent again."""
    outputs = [output for message in messages for output in message.outputs]
    if cancelled:
        kept = [o for o in outputs if not _of_runs(o, cancelled)]
        log.info("dropped %s records of cancelled runs %s", len(outputs) - len(kept), cancelled)
        outputs = kept
    return LoadBatch.from_outputs(
        tenant_id,
        _only_run(messages),
        outputs,
        raw_ids=[i for message in messages for i in message.raw_ids],
        dead_raw_ids=[i for message in messages for i in message.dead_raw_ids],
    )


def _of_runs(output: Mapping[str, Sequence[Mapping[str, Any]]], runs: set[int]) -> bool:
    """Whether a record's output is one of these runs' (its fact row names the run)."""
    return any(row.get("last_job_run_id") in runs for rows in output.values() for row in rows)


def vectorize_requests(
    tenant_id: int, changed: Iterable[ChangedFact], job_run_id: int | None
) -> list[VectorizeRequest]:
    groups: dict[tuple[int, str], list[str]] = {}
    for fact in changed:
        if fact.content_hash is not None:
            groups.setdefault((fact.integration_id, fact.entity), []).append(fact.external_id)
    return [
        VectorizeRequest(tenant_id, integration, entity, ids[i : i + VECTORIZE_CHUNK], job_run_id)
        for (integration, entity), ids in groups.items()
        for i in range(0, len(ids), VECTORIZE_CHUNK)
    ]


def _only_run(messages: Sequence[LoadMessage]) -> int | None:
    runs = {run for message in messages for run in message.job_run_ids}
    return runs.pop() if len(runs) == 1 else None


def dead_load_message(body: bytes, offset: int, error: str) -> DeadItem:
    """A body on etl.load that is not a load message."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        text = json.dumps(body.decode("utf-8", "replace"))
    return DeadItem(
        stage="load", source_queue=LOAD_SOURCE, error=f"offset {offset}: {error}", message=text
    )
