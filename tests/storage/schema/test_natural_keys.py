"""Every natural key of the schema rejects a duplicate, on both dialects.

The keys are read from the metadata, so a table or constraint added later is covered without
editing this file; a table with no natural key at all must be one of the documented exceptions.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from storage.schema import Base
from tests.storage.row_factory import NaturalKey, RowFactory, natural_keys

KEYS = natural_keys()

# Tables whose only natural key is their primary key (a session id, a credential fingerprint,
# a worker name) and event rows that are appended, never looked up by a natural key.
PRIMARY_NATURAL_KEY = {"sessions", "rate_budgets", "worker_heartbeats"}
EVENT_ROWS = {"outbox", "dead_letters", "job_runs", "login_failures"}


def _violated(error: IntegrityError, key: NaturalKey, dialect: str) -> bool:
    """Whether the database blamed this key (and not some other constraint of the row)."""
    if dialect == "postgresql":
        assert isinstance(error.orig, psycopg.Error)
        return error.orig.diag.constraint_name == key.name
    message = str(error.orig)
    if key.has_expressions:
        return f"UNIQUE constraint failed: index '{key.name}'" in message
    columns = ", ".join(f"{key.table.name}.{c}" for c in key.columns)
    return f"UNIQUE constraint failed: {columns}" in message


def test_the_metadata_declares_the_keys_the_issue_lists() -> None:
    names = {str(k) for k in KEYS}
    assert {
        "wit_mappings.uq_wit_mappings_source",
        "status_mappings.uq_status_mappings_source",
        "workflows.uq_workflows_step",
        "workflows.uq_workflows_commitment_point",
        "work_items.uq_work_items_key",
        "users.uq_users_email",
        "sessions.pk_sessions",
    } <= names
    commitment = next(k for k in KEYS if k.name == "uq_workflows_commitment_point")
    assert commitment.predicate == {"is_commitment_point": True}
    assert commitment.has_expressions


def test_every_table_has_a_natural_key_except_the_documented_ones() -> None:
    keyed = {k.table.name for k in KEYS}
    keyless = set(Base.metadata.tables) - keyed
    assert keyless == EVENT_ROWS, "tables without any natural key"
    has_other_key = {k.table.name for k in KEYS if k.name != k.table.primary_key.name}
    only_primary = keyed - has_other_key
    assert only_primary == PRIMARY_NATURAL_KEY, "tables keyed by their primary key alone"


@pytest.mark.parametrize("key", KEYS, ids=str)
def test_natural_key_rejects_a_duplicate(shared_engine: Engine, key: NaturalKey) -> None:
    factory = RowFactory()
    parents: dict[str, Any] = {}
    with shared_engine.begin() as conn:
        first = factory.insert(
            conn, key.table, parents=parents, fill=key.columns, overrides=key.predicate
        )
        # Same key, fresh values everywhere else (so no other unique column clashes).
        duplicate = factory.values(
            conn,
            key.table,
            parents=parents,
            fill=key.columns,
            overrides={**key.predicate, **{c: first[c] for c in key.columns}},
        )

    with pytest.raises(IntegrityError) as caught, shared_engine.begin() as conn:
        conn.execute(insert(key.table).values(duplicate))
    assert _violated(caught.value, key, shared_engine.dialect.name), str(caught.value.orig)


SCOPED_KEYS = [k for k in KEYS if k.has_expressions and "integration_id" in k.table.c]


@pytest.mark.parametrize("key", SCOPED_KEYS, ids=str)
def test_integration_scope_is_separate_from_the_tenant_wide_scope(
    shared_engine: Engine, key: NaturalKey
) -> None:
    """coalesce(integration_id, 0): a mapping for one integration may repeat a tenant-wide one
    and another integration's, but not one of its own integration."""
    factory = RowFactory()
    parents: dict[str, Any] = {}
    with shared_engine.begin() as conn:
        tenant_wide = factory.insert(
            conn, key.table, parents=parents, fill=key.columns, overrides=key.predicate
        )
        same_key = {**key.predicate, **{c: tenant_wide[c] for c in key.columns}}
        integrations = Base.metadata.tables["integrations"]
        first, second = (
            factory.insert(conn, integrations, overrides={"tenant_id": parents["tenants"]})["id"]
            for _ in range(2)
        )
        for integration_id in (first, second):
            factory.insert(
                conn,
                key.table,
                parents=parents,
                overrides={**same_key, "integration_id": integration_id},
            )
        rows = conn.scalar(
            select(func.count())
            .select_from(key.table)
            .where(key.table.c.tenant_id == parents["tenants"])
        )
    assert rows == 3

    with pytest.raises(IntegrityError), shared_engine.begin() as conn:
        factory.insert(
            conn,
            key.table,
            parents=parents,
            overrides={**same_key, "integration_id": first},
        )
