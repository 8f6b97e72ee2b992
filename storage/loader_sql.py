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
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import psycopg
from sqlalchemy import ColumnElement, Connection, Table, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
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

# SQLITE_MAX_VARIABLE_NUMBER (32,766 since SQLite 3.32), with room for the statement's own.
_SQLITE_VARIABLES = 32_000
# PostgreSQL's protocol allows 65,535 parameters per statement.
_POSTGRES_PARAMETERS = 65_000


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


def newest(
    rows: Iterable[Mapping[str, Any]], key: Sequence[str], guard: Sequence[str]
) -> list[Row]:
    """One row per key: the one with the greatest guard (the first on ties), as `bulk_upsert`
    keeps within one call — done before splitting rows over several statements."""
    kept: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        k = tuple(row[c] for c in key)
        held = kept.get(k)
        if held is None or guard_of(row, guard) > guard_of(held, guard):
            kept[k] = dict(row)
    return list(kept.values())


def upsert(
    conn: Connection,
    target: Table,
    rows: Iterable[Mapping[str, Any]],
    key: Sequence[str],
    *,
    guard: Sequence[str] = DEFAULT_GUARD,
    returning: Sequence[str] = (),
) -> UpsertResult:
    """`bulk_upsert` for a whole batch: one COPY merge on PostgreSQL, as many row-path
    statements as SQLite's variable limit needs."""
    guard = tuple(c for c in guard if c in target.c)
    batch = newest(rows, key, guard) if guard else [dict(r) for r in rows]
    if conn.dialect.name == "postgresql" or not batch:
        return bulk_upsert(conn, target, batch, key, guard=guard, returning=returning)
    size = max(1, _SQLITE_VARIABLES // len(target.c))
    written, returned = 0, []
    for start in range(0, len(batch), size):
        part = bulk_upsert(
            conn, target, batch[start : start + size], key, guard=guard, returning=returning
        )
        written += part.written
        returned.extend(part.returned)
    return UpsertResult(written, returned)


def rows_per_statement(conn: Connection, columns: int) -> int:
    """How many rows of `columns` bound values fit in one multi-row statement."""
    limit = _POSTGRES_PARAMETERS if conn.dialect.name == "postgresql" else _SQLITE_VARIABLES
    return max(1, limit // max(1, columns))


def among(conn: Connection, column: Any, values: Collection[Any]) -> ColumnElement[bool]:
    """`column` is one of `values`: a single array parameter on PostgreSQL."""
    if conn.dialect.name == "postgresql":
        array = bindparam(None, list(values), type_=ARRAY(column.type), unique=True)
        return column == any_(array)
    return column.in_(list(values))


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
