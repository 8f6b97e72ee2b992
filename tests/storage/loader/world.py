"""A tenant with a Jira and a GitHub integration and a running job run, and the plumbing the
load stage sits in: raw records are stored, transformed with the tenant's configuration by the
real rules, merged into a `LoadBatch` and loaded in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from connectors.records import utc_version
from dataflows.rules import RecordError, TransformOutput, transform_record
from pulse.tenant_config import TenantConfig
from storage.crypto import CredentialCipher
from storage.db import session_factory, transaction
from storage.loader import TABLE_ORDER, LoadBatch, LoadResult, load_batch
from storage.raw_store import content_hash
from storage.repositories import integrations, jobs, tenants
from storage.repositories.config import load_tenant_config
from storage.schema import Base, CustomFieldMapping, Job, JobRun, RawRecord, utcnow

from .payloads import SPRINT_FIELD

CIPHER = CredentialCipher(Fernet.generate_key().decode())
# Columns that differ between two databases loaded with the same input.
_SURROGATE = {"id", "created_at", "updated_at"}
_PARENT_REF = {
    "work_item_id": ("work_items", "work_item_external_id"),
    "pull_request_id": ("pull_requests", "pull_request_external_id"),
}


@dataclass
class Record:
    raw_id: int
    entity: str
    external_id: str
    output: TransformOutput | None  # None: the transform failed (a dead letter)

    @property
    def rows(self) -> dict[str, list[dict[str, Any]]]:
        assert self.output is not None, "a dead record has no rows"
        return self.output.rows


def _external_id(entity: str, payload: dict[str, Any]) -> str:
    if entity == "jira.status":
        return f"{payload['projectKey']}:{payload['id']}"
    if entity == "jira.dev_status":
        return str(payload["issueId"])
    return str(payload["id"])


def _version(entity: str, payload: dict[str, Any]) -> str:
    if entity == "jira.issue":
        return utc_version(payload["fields"]["updated"])
    if entity in ("github.pull_request", "github.repository"):
        return utc_version(payload["updatedAt"])
    return utc_version(utcnow())  # untimestamped entities: the fetch time


class World:
    def __init__(self, engine: Engine, name: str = "Acme") -> None:
        self.engine = engine
        self.factory = session_factory(engine)
        with transaction(self.factory) as session:
            tenant = tenants.create_tenant(session, name)
            self.tenant_id = tenant.id
            self.jira_id = self._integration(session, "Jira", "jira")
            self.github_id = self._integration(session, "GitHub", "github")
            session.add(
                CustomFieldMapping(
                    tenant_id=tenant.id,
                    integration_id=self.jira_id,
                    slot="sprints",
                    field_external_id=SPRINT_FIELD,
                )
            )
        self.run_id = self.start_run(self.jira_id)

    def _integration(self, session: Session, name: str, provider: str) -> int:
        row = integrations.create_integration(
            session,
            self.tenant_id,
            name=name,
            provider=provider,
            base_url=None,
            credentials=None,
            settings={},
            cipher=CIPHER,
        )
        return row.id

    def start_run(self, integration_id: int) -> int:
        with transaction(self.factory) as session:
            job = jobs.ensure_job(session, self.tenant_id, integration_id)
            session.execute(update(Job).where(Job.id == job.id).values(state="ready"))
            run = jobs.start_run(session, self.tenant_id, job.id)
            assert run is not None
            return run.id

    def config(self) -> TenantConfig:
        with self.factory() as session:
            return load_tenant_config(session, self.tenant_id)

    def integration_for(self, entity: str) -> int:
        return self.github_id if entity.startswith("github.") else self.jira_id

    # -- extract and transform ----------------------------------------------------------------
    def record(
        self,
        entity: str,
        payload: dict[str, Any],
        *,
        run_id: int | None = None,
        config: TenantConfig | None = None,
    ) -> Record:
        """Store `payload` as a raw record and transform it."""
        raw_id = self.store(
            entity, _external_id(entity, payload), _version(entity, payload), payload, run_id
        )
        return self.transform(raw_id, config=config)

    def records(self, entity: str, payloads: Iterable[dict[str, Any]]) -> list[Record]:
        """Many raw records of one entity, stored in one transaction and transformed with one
        configuration snapshot (what a transform batch does)."""
        with transaction(self.factory) as session:
            raws = [
                RawRecord(
                    tenant_id=self.tenant_id,
                    integration_id=self.integration_for(entity),
                    job_run_id=self.run_id,
                    entity=entity,
                    external_id=_external_id(entity, payload),
                    version=_version(entity, payload),
                    content_hash=content_hash(payload),
                    payload=payload,
                    fetched_at=utcnow(),
                )
                for payload in payloads
            ]
            session.add_all(raws)
            session.flush()
            stored = [(r.id, r.external_id, r.version, r.payload) for r in raws]
        config = self.config()
        out = []
        for raw_id, external_id, version, payload in stored:
            output = transform_record(
                entity,
                raw_id,
                external_id,
                version,
                payload,
                config,
                self.integration_for(entity),
                self.run_id,
            )
            out.append(Record(raw_id, entity, external_id, output))
        return out

    def store(
        self,
        entity: str,
        external_id: str,
        version: str,
        payload: dict[str, Any],
        run_id: int | None = None,
    ) -> int:
        """A raw record as the extract stage stores it; returns its id."""
        with transaction(self.factory) as session:
            raw = RawRecord(
                tenant_id=self.tenant_id,
                integration_id=self.integration_for(entity),
                job_run_id=self.run_id if run_id is None else run_id,
                entity=entity,
                external_id=external_id,
                version=version,
                content_hash=content_hash(payload),
                payload=payload,
                fetched_at=utcnow(),
            )
            session.add(raw)
            session.flush()
            return raw.id

    def map_field(self, slot: str, field_id: str) -> None:
        with transaction(self.factory) as session:
            session.add(
                CustomFieldMapping(
                    tenant_id=self.tenant_id,
                    integration_id=self.jira_id,
                    slot=slot,
                    field_external_id=field_id,
                )
            )

    def transform(self, raw_id: int, *, config: TenantConfig | None = None) -> Record:
        """Transform a stored raw record (again) with the tenant's configuration as it is now."""
        with self.factory() as session:
            raw = session.get(RawRecord, raw_id)
            assert raw is not None
            entity, external_id, version = raw.entity, raw.external_id, raw.version
            payload, run_id, integration_id = raw.payload, raw.job_run_id, raw.integration_id
        try:
            output: TransformOutput | None = transform_record(
                entity,
                raw_id,
                external_id,
                version,
                payload,
                config or self.config(),
                integration_id,
                run_id,
            )
        except RecordError:
            output = None
        return Record(raw_id, entity, external_id, output)

    # -- load ---------------------------------------------------------------------------------
    def batch(
        self,
        *records: Record,
        covered: Iterable[int] = (),
        run_id: int | None = None,
    ) -> LoadBatch:
        """The batch the load stage receives for `records`; dead records go to dead_raw_ids."""
        live = [r for r in records if r.output is not None]
        return LoadBatch.from_outputs(
            self.tenant_id,
            self.run_id if run_id is None else run_id,
            [r.rows for r in live],
            raw_ids=[r.raw_id for r in live] + list(covered),
            dead_raw_ids=[r.raw_id for r in records if r.output is None],
        )

    def load(self, batch: LoadBatch) -> LoadResult:
        with transaction(self.factory) as session:
            return load_batch(session, batch)

    def load_records(self, *records: Record) -> LoadResult:
        return self.load(self.batch(*records))

    # -- read back ----------------------------------------------------------------------------
    def rows(
        self, name: str, *, surrogate: bool = False, by: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """The tenant's rows of one table, sorted. Without `surrogate`, ids and timestamps are
        left out and parent ids are replaced by the parent's external id, so two databases
        loaded with the same input compare equal. Sorted by the columns `by`, else by all."""
        target = Base.metadata.tables[name]
        with self.engine.connect() as conn:
            found = [
                dict(r._mapping)
                for r in conn.execute(select(target).where(target.c.tenant_id == self.tenant_id))
            ]
            if not surrogate:
                for column, (parent, ref) in _PARENT_REF.items():
                    if column in target.c:
                        t = Base.metadata.tables[parent]
                        names = {i: x for i, x in conn.execute(select(t.c.id, t.c.external_id))}
                        for row in found:
                            row[ref] = names[row.pop(column)]
        if not surrogate:
            found = [{k: v for k, v in r.items() if k not in _SURROGATE} for r in found]
        if by:
            return sorted(found, key=lambda row: tuple(row[c] for c in by))
        return sorted(found, key=_sort_key)

    def dump(self, *, surrogate: bool = False) -> dict[str, list[dict[str, Any]]]:
        return {name: self.rows(name, surrogate=surrogate) for name in TABLE_ORDER}

    def processed(self, raw_ids: Sequence[int]) -> dict[int, datetime | None]:
        with self.factory() as session:
            query = select(RawRecord.id, RawRecord.processed_at).where(RawRecord.id.in_(raw_ids))
            return {i: at for i, at in session.execute(query)}

    def loaded(self, run_id: int | None = None) -> int:
        with self.factory() as session:
            run = session.get(JobRun, self.run_id if run_id is None else run_id)
            assert run is not None
            return run.loaded

    def set_loaded(self, value: int) -> None:
        with transaction(self.factory) as session:
            session.execute(update(JobRun).where(JobRun.id == self.run_id).values(loaded=value))


def _sort_key(row: dict[str, Any]) -> str:
    return repr(sorted((k, repr(v)) for k, v in row.items()))
