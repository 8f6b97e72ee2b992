"""Shared pieces of the loader (`storage.loader`): its errors, the natural keys it writes by,
and dialect-aware statement helpers.

`upsert` is `storage.upsert.bulk_upsert` (COPY on PostgreSQL) that keeps the newest row per
key before writing and, on SQLite's row path, splits the rows so that no statement passes
SQLite's limit of bind variables (one multi-row INSERT holds rows x columns variables).
`among` is `column = ANY(:array)` on PostgreSQL (one parameter, whatever the batch size) and
`column IN (...)` on SQLite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError, StatementError

from pulse.errors import FatalError, PulseError, RetriableError
from storage.schema import Base
from storage.upsert import DEFAULT_GUARD, UpsertResult, bulk_upsert

Row = dict[str, Any]
FactKey = tuple[int, str]  # (integration_id, external_id) of a fact within one tenant

# The unique constraints the loader writes by (checked against the schema by the tests).
NATURAL_KEY = ("tenant_id", "integration_id", "external_id")
LINK_KEY = (
    "tenant_id",
    "integration_id",
    "work_item_key",
    "repository_full_name",
    "pr_number",
    "link_source",
)
LINKS = "work_item_pr_links"


class LoadError(FatalError):
    """The batch cannot be loaded as it is (malformed, another tenant's rows, or data the
    database refuses): loading it again fails the same way. Nothing of it was written."""


class TransientLoadError(RetriableError):
    """The database failed for a passing reason (lost connection, deadlock, serialization
    failure, lock timeout, a busy SQLite file). Nothing of the batch was written; load it
    again."""


def database_error(exc: Exception, message: str, **context: Any) -> PulseError:
    """Classify a database failure met while loading: retriable or fatal."""
    orig = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
    transient = (
        (isinstance(exc, DBAPIError) and exc.connection_invalidated)
        or isinstance(orig, psycopg.OperationalError)
        or (
            isinstance(orig, sqlite3.OperationalError)
            and any(word in str(orig) for word in ("locked", "busy"))
        )
    )
    kind = TransientLoadError if transient else LoadError
    return kind(f"{message}: {type(orig).__name__}: {orig}", **context)


def table(name: str) -> Table:
    return Base.metadata.tables[name]


def guard_of(row: Mapping[str, Any], guard: Sequence[str] = DEFAULT_GUARD) -> tuple[Any, ...]:
    """A row's version guard; `config_version` defaults to 0 as its column does."""
    return tuple(row.get(c, 0) for c in guard)


def upsert(
    conn: Connection,
    target: Table,
    rows: Iterable[Mapping[str, Any]],
    key: Sequence[str],
    *,
    guard: Sequence[str] = DEFAULT_GUARD,
    returning: Sequence[str] = (),
) -> UpsertResult:
    """A whole batch: one COPY merge on PostgreSQL, the split row path on SQLite."""
    return bulk_upsert(conn, target, rows, key, guard=guard, returning=returning)


def uniform(target: Table, rows: Iterable[Mapping[str, Any]]) -> list[Row]:
    """Rows with the same columns (one multi-row VALUES needs them): a column some rows leave
    out takes its scalar default, else NULL."""
    rows = [dict(r) for r in rows]
    names = sorted(set().union(*(r.keys() for r in rows))) if rows else []
    defaults: dict[str, Any] = {}
    for name in names:
        default = target.c[name].default
        if default is not None and getattr(default, "is_scalar", False):
            defaults[name] = default.arg  # type: ignore[attr-defined]
    return [{c: r[c] if c in r else defaults.get(c) for c in names} for r in rows]
