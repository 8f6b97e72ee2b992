"""Synthetic issues (`synthetic`) into the raw store and onto the `etl.raw` streams, in bulk.

`make_tenant` creates a tenant with the default configuration plus story points, sprints, team
and development mapped to the synthetic fields, one Jira integration (never contacted) and a
running job run. `store_issues` COPYs raw records (unprocessed, as extract leaves them) and
spools the `etl.raw` message bodies the outbox relay would publish for them: one `RecordBatch`
per `batch_size` records, payload in the message, as `connectors.extract.relay.batches_of`
builds them. `publish` sends spooled bodies with publisher confirms.

`autoanalyze` stands in for autovacuum's ANALYZE, which this machine's PostgreSQL does not run
(`autovacuum = off`): without statistics the planner takes the tables for empty, and the
loader's lookups by natural key become scans of the whole table (see bench/README.md).
"""

from __future__ import annotations

import hashlib
import logging
import struct
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import orjson
import psycopg
from cryptography.fernet import Fernet
from sqlalchemy.orm import Session, sessionmaker

from dataflows.rabbitmq import PipelinedPublisher, Topology
from pulse.messages import SCHEMA_VERSION, RecordBatch, partition_for
from storage.crypto import CredentialCipher
from storage.db import transaction
from storage.repositories import integrations, jobs, tenants
from storage.schema import CustomFieldMapping
from tests.dataflows.pipeline.synthetic import BASE, PROJECTS, SLOT_FIELDS, SyntheticIssue

__all__ = [
    "ENTITY",
    "BodySpool",
    "SyntheticTenant",
    "autoanalyze",
    "make_tenant",
    "publish",
    "store_issues",
]

log = logging.getLogger(__name__)
ENTITY = "jira.issue"
# The tables the pipeline writes and looks rows up in; for the raw store, only the columns it
# is looked up by (sampling the payloads would cost seconds of CPU per ANALYZE).
ANALYZED = (
    "raw_records (id, tenant_id, integration_id, entity, external_id, job_run_id, processed_at)",
    "outbox (id, raw_id, published_at)",
    "job_runs",
    "sprints",
    "work_items",
    "work_item_transitions",
    "work_item_sprints",
)
_CIPHER = CredentialCipher(Fernet.generate_key().decode())


@dataclass(frozen=True, slots=True)
class SyntheticTenant:
    id: int
    integration_id: int
    job_run_id: int | None


def make_tenant(
    factory: sessionmaker[Session], name: str, *, with_run: bool = True
) -> SyntheticTenant:
    with transaction(factory) as session:
        tenant = tenants.create_tenant(session, name)
        jira = integrations.create_integration(
            session,
            tenant.id,
            name="Jira",
            provider="jira",
            base_url=BASE,
            credentials={"email": "bench@synthetic.example", "api_token": "unused"},
            settings={"projects": [key for _, key, _ in PROJECTS]},
            cipher=_CIPHER,
        )
        # Set up like a tenant that already chose its special fields (the admin UI's
        # assign_slot needs the field catalog, which no extract has read here).
        session.add_all(
            CustomFieldMapping(
                tenant_id=tenant.id,
                integration_id=jira.id,
                slot=slot,
                field_external_id=field,
                label=slot.replace("_", " ").title(),
            )
            for slot, field in SLOT_FIELDS.items()
        )
        run_id = None
        if with_run:
            job = jobs.ensure_job(session, tenant.id, jira.id)
            run = jobs.start_run(session, tenant.id, job.id, kind="full")
            assert run is not None
            run_id = run.id
        return SyntheticTenant(tenant.id, jira.id, run_id)


class BodySpool:
    """Message bodies with their partitions, spooled to a temporary file (a 200,000-issue run
    holds gigabytes of them)."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self.messages = 0
        self.records = 0
        self.bytes = 0

    def add(self, partition: int, body: bytes, records: int) -> None:
        self._file.write(struct.pack("<II", partition, len(body)))
        self._file.write(body)
        self.messages += 1
        self.records += records
        self.bytes += len(body)

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        self._file.flush()
        self._file.seek(0)
        for _ in range(self.messages):
            partition, size = struct.unpack("<II", self._file.read(8))
            yield partition, self._file.read(size)
        self._file.seek(0, 2)

    def batches(self) -> Iterator[RecordBatch]:
        """The spooled messages parsed, as the transform stage reads them."""
        for _, body in self:
            yield RecordBatch.from_json(body)

    def close(self) -> None:
        self._file.close()


def _reserve_ids(conn: psycopg.Connection[Any], count: int) -> int:
    """The first of `count` consecutive raw_records ids, taken from the table's sequence."""
    row = conn.execute(
        "SELECT setval(s, nextval(s) + %s - 1) FROM pg_get_serial_sequence('raw_records', 'id') s",
        (count,),
    ).fetchone()
    assert row is not None
    return int(row[0]) - count + 1


def store_issues(
    database_url: str,
    tenant: SyntheticTenant,
    items: Iterable[SyntheticIssue],
    spool: BodySpool,
    *,
    partitions: int,
    batch_size: int = 100,
    chunk: int = 2000,
) -> int:
    """COPY the issues into raw_records (unprocessed) and spool their message bodies for the
    tenant's `etl.raw` partition. Returns how many records were stored.

    Each payload is serialised once (orjson), for the JSONB column and for the message; its
    content hash is the sha256 of that text, not the raw store's canonical form (nothing
    re-fetches these)."""
    partition = partition_for(tenant.id, partitions)
    run = b"null" if tenant.job_run_id is None else b"%d" % tenant.job_run_id
    head = (
        b'{"tenant_id":%d,"integration_id":%d,"job_run_id":%s,"entity":"%s",'
        % (
            tenant.id,
            tenant.integration_id,
            run,
            ENTITY.encode(),
        )
        + b'"schema_version":%d,"records":[' % SCHEMA_VERSION
    )
    stored = 0
    iterator = iter(items)
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        while batch := list(zip(range(chunk), iterator, strict=False)):
            first = _reserve_ids(conn, len(batch))
            fetched = datetime.now(UTC)
            records: list[bytes] = []
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY raw_records (id, tenant_id, integration_id, job_run_id, entity, "
                    "external_id, version, content_hash, payload, fetched_at) FROM STDIN"
                ) as copy,
            ):
                for n, item in batch:
                    data = orjson.dumps(item.payload)
                    raw_id = first + n
                    copy.write_row(
                        (
                            raw_id,
                            tenant.id,
                            tenant.integration_id,
                            tenant.job_run_id,
                            ENTITY,
                            item.external_id,
                            item.version,
                            hashlib.sha256(data).hexdigest(),
                            data.decode(),
                            fetched,
                        )
                    )
                    records.append(
                        b'{"raw_id":%d,"external_id":"%s","version":"%s","payload":%s}'
                        % (raw_id, item.external_id.encode(), item.version.encode(), data)
                    )
            conn.commit()
            for start in range(0, len(records), batch_size):
                part = records[start : start + batch_size]
                spool.add(partition, head + b",".join(part) + b"]}", len(part))
            stored += len(batch)
    return stored


def publish(url: str, spool: Iterable[tuple[int, bytes]], *, window: int = 100) -> int:
    """Publish spooled bodies to `etl.raw.<partition>` with confirms, `window` messages per
    wait; returns the messages sent."""
    publisher = PipelinedPublisher(url, name="synthetic-publish", window=window)
    sent = 0
    try:
        pending: dict[int, list[bytes]] = {}
        for partition, body in spool:
            bodies = pending.setdefault(partition, [])
            bodies.append(body)
            if len(bodies) >= window:
                publisher.publish(Topology.exchange("raw"), str(partition), bodies)
                sent += len(bodies)
                bodies.clear()
        for partition, bodies in pending.items():
            if bodies:
                publisher.publish(Topology.exchange("raw"), str(partition), bodies)
                sent += len(bodies)
    finally:
        publisher.close()
    return sent


@contextmanager
def autoanalyze(database_url: str, every: float = 15.0) -> Iterator[None]:
    """ANALYZE the pipeline's tables now and every `every` seconds until the block ends, as
    autovacuum would on a production server (`every` <= 0: never)."""
    if every <= 0:
        yield
        return
    stop = threading.Event()
    url = database_url.replace("postgresql+psycopg://", "postgresql://")

    def analyze() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                try:
                    conn.execute(f"ANALYZE {', '.join(ANALYZED)}")
                except psycopg.Error:
                    log.warning("ANALYZE failed; retrying", exc_info=True)
                if stop.wait(every):
                    return

    thread = threading.Thread(target=analyze, name="autoanalyze", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=60)
