"""Version-guarded upserts: `INSERT ... ON CONFLICT (natural key) DO UPDATE ... WHERE
target.version < excluded.version`, on PostgreSQL and SQLite alike, plus a bulk path for
PostgreSQL (COPY into a temporary table, then one INSERT ... SELECT ... ON CONFLICT).

Both paths give the same table for the same input: a row is written when its key is new or
its guard columns compare greater than the stored ones; an equal or older version is ignored,
so replays are harmless. Within one call, duplicate keys keep the row with the greatest guard.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql as pgsql
from sqlalchemy import Connection, Table, func, null, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import JSON

DEFAULT_GUARD = ("version", "config_version")
_NEVER_UPDATED = ("id", "created_at", "updated_at")
# Bound-parameter limits, with a margin: SQLite's default is 32,766, PostgreSQL's 65,535.
_SQLITE_VARIABLES = 32_000
_POSTGRES_PARAMETERS = 65_000


@dataclass(frozen=True, slots=True)
class UpsertResult:
    written: int  # rows inserted or updated (not the ones the guard ignored)
    returned: list[tuple[Any, ...]]  # the RETURNING columns of written rows


def _dedupe(
    rows: list[dict[str, Any]], key: Sequence[str], guard: Sequence[str]
) -> list[dict[str, Any]]:
    newest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        k = tuple(row[c] for c in key)
        held = newest.get(k)
        if held is None or tuple(row[c] for c in guard) > tuple(held[c] for c in guard):
            newest[k] = row
    return list(newest.values())


def _complete(table: Table, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Fill Python-side column defaults into every row that leaves the column out, so both paths
    write the same values (COPY bypasses SQLAlchemy's defaults) and every row has the same
    columns."""
    rows = list(rows)
    if not rows:
        return []
    defaults = _python_defaults(table)
    names = sorted(set(defaults).union(*(r.keys() for r in rows)))
    width = len(names)
    # Rows that already hold every column (the rules emit complete rows) are only copied.
    return [
        dict(r) if len(r) == width else {c: r[c] if c in r else defaults.get(c) for c in names}
        for r in rows
    ]


def _prepare(
    table: Table, rows: Iterable[Mapping[str, Any]], key: Sequence[str], guard: Sequence[str]
) -> list[dict[str, Any]]:
    """Complete the rows first, so a guard column left to its default still compares."""
    batch = _complete(table, rows)
    return _dedupe(batch, key, guard) if guard else batch


def _guard_present(table: Table, guard: Sequence[str]) -> tuple[str, ...]:
    return tuple(c for c in guard if c in table.c)


def upsert_rows(
    conn: Connection,
    table: Table,
    rows: Iterable[Mapping[str, Any]],
    key: Sequence[str],
    *,
    guard: Sequence[str] = DEFAULT_GUARD,
    returning: Sequence[str] = (),
) -> UpsertResult:
    """Row path: multi-row INSERT ... ON CONFLICT statements (both dialects), as few as the
    dialect's limit on bound parameters allows (SQLite 32,766, PostgreSQL 65,535)."""
    guard = _guard_present(table, guard)
    batch = _prepare(table, rows, key, guard)  # dedupe before splitting: one row per key
    if not batch:
        return UpsertResult(0, [])
    size = rows_per_statement(conn, len(batch[0]))
    written, returned = 0, []
    for start in range(0, len(batch), size):
        part = _upsert_statement(conn, table, batch[start : start + size], key, guard, returning)
        written += part.written
        returned.extend(part.returned)
    return UpsertResult(written, returned)


def rows_per_statement(conn: Connection, columns: int) -> int:
    """How many rows of `columns` bound values fit in one multi-row statement."""
    limit = _POSTGRES_PARAMETERS if conn.dialect.name == "postgresql" else _SQLITE_VARIABLES
    return max(1, limit // max(1, columns))


def _upsert_statement(
    conn: Connection,
    table: Table,
    batch: list[dict[str, Any]],
    key: Sequence[str],
    guard: Sequence[str],
    returning: Sequence[str],
) -> UpsertResult:
    insert_fn = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    columns = list(batch[0].keys())
    # None in a JSON column is SQL NULL, as the COPY path writes it (not the JSON 'null').
    json_columns = {c for c in columns if isinstance(table.c[c].type, JSON)}
    values = [
        {c: null() if c in json_columns and v is None else v for c, v in row.items()}
        for row in batch
    ]
    stmt = insert_fn(table).values(values)
    excluded = stmt.excluded
    updates: dict[str, Any] = {
        c: excluded[c] for c in columns if c not in key and c not in _NEVER_UPDATED
    }
    if "updated_at" in table.c:
        updates["updated_at"] = func.now()
    where = None
    if guard:
        where = tuple_(*(table.c[c] for c in guard)) < tuple_(*(excluded[c] for c in guard))
    stmt = stmt.on_conflict_do_update(index_elements=list(key), set_=updates, where=where)
    if returning:
        result = conn.execute(stmt.returning(*(table.c[c] for c in returning)))
        returned = [tuple(r) for r in result]
        return UpsertResult(len(returned), returned)
    # SQLAlchemy reports no rowcount for an INSERT unless asked to keep the cursor's.
    result = conn.execute(stmt, execution_options={"preserve_rowcount": True})
    return UpsertResult(max(result.rowcount, 0), [])


def bulk_upsert(
    conn: Connection,
    table: Table,
    rows: Iterable[Mapping[str, Any]],
    key: Sequence[str],
    *,
    guard: Sequence[str] = DEFAULT_GUARD,
    returning: Sequence[str] = (),
) -> UpsertResult:
    """COPY path for PostgreSQL; falls back to `upsert_rows` on other dialects."""
    if conn.dialect.name != "postgresql":
        return upsert_rows(conn, table, rows, key, guard=guard, returning=returning)
    guard = _guard_present(table, guard)
    batch = _prepare(table, rows, key, guard)
    if not batch:
        return UpsertResult(0, [])
    columns = list(batch[0].keys())
    json_columns = {c for c in columns if isinstance(table.c[c].type, JSON)}
    raw = conn.connection.driver_connection
    assert raw is not None
    statements = _bulk_statements(
        table.name, columns, key, guard, returning, touch="updated_at" in table.c
    )
    with raw.cursor() as cur:
        cur.execute(statements.create_temp)
        cur.execute(statements.truncate_temp)
        with cur.copy(statements.copy) as copy:
            for row in batch:
                copy.write_row(
                    [
                        json.dumps(row[c]) if c in json_columns and row[c] is not None else row[c]
                        for c in columns
                    ]
                )
        cur.execute(statements.merge)
        if returning:
            returned = [tuple(r) for r in cur.fetchall()]
            return UpsertResult(len(returned), returned)
        return UpsertResult(max(cur.rowcount, 0), [])


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], values: Sequence[Sequence[Any]]
) -> int:
    """Plain insert of rows known to be new (children whose parent's rows were just deleted or
    whose parent was just created), given as value lists in `columns` order: COPY straight
    into the table on PostgreSQL (no temp table, no conflict handling: this is the loader's
    hottest path), executemany elsewhere. Python-side column defaults are filled for the
    columns left out. Returns the rows inserted."""
    if not values:
        return 0
    defaults = _python_defaults(table, exclude=columns)
    names = [*columns, *defaults]
    tail = list(defaults.values())
    json_at = [i for i, c in enumerate(names) if isinstance(table.c[c].type, JSON)]
    if conn.dialect.name != "postgresql":
        conn.execute(
            table.insert(), [dict(zip(names, [*row, *tail], strict=True)) for row in values]
        )
        return len(values)
    raw = conn.connection.driver_connection
    assert raw is not None
    statement = pgsql.SQL("COPY {} ({}) FROM STDIN").format(
        pgsql.Identifier(table.name), pgsql.SQL(", ").join(map(pgsql.Identifier, names))
    )
    with raw.cursor() as cur, cur.copy(statement) as copy:
        for row in values:
            out = [*row, *tail] if tail else row
            if json_at:
                out = list(out)
                for i in json_at:
                    if out[i] is not None:
                        out[i] = json.dumps(out[i])
            copy.write_row(out)
    return len(values)


def _python_defaults(table: Table, *, exclude: Collection[str] = ()) -> dict[str, Any]:
    """SQLAlchemy-side column defaults (COPY bypasses them), evaluated once per call."""
    defaults: dict[str, Any] = {}
    for column in table.c:
        default = column.default
        if default is None or column.primary_key or column.name in exclude:
            continue
        if getattr(default, "is_scalar", False):
            defaults[column.name] = default.arg  # type: ignore[attr-defined]
        elif getattr(default, "is_callable", False):
            defaults[column.name] = default.arg(None)  # type: ignore[attr-defined]
    return defaults


@dataclass(frozen=True, slots=True)
class _BulkStatements:
    create_temp: pgsql.Composed
    truncate_temp: pgsql.Composed
    copy: pgsql.Composed
    merge: pgsql.Composed


def _bulk_statements(
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    guard: Sequence[str],
    returning: Sequence[str],
    *,
    touch: bool,
) -> _BulkStatements:
    """Compose the statements with quoted identifiers (they come from the schema)."""
    target, temp = pgsql.Identifier(table), pgsql.Identifier(f"_bulk_{table}")
    cols = pgsql.SQL(", ").join(map(pgsql.Identifier, columns))
    updates = pgsql.SQL(", ").join(
        pgsql.SQL("{0} = EXCLUDED.{0}").format(pgsql.Identifier(c))
        for c in columns
        if c not in key and c not in _NEVER_UPDATED
    )
    if touch:
        updates = pgsql.SQL(", ").join([updates, pgsql.SQL("updated_at = now()")])
    merge = pgsql.SQL(
        "INSERT INTO {target} AS t ({cols}) SELECT {cols} FROM {temp} "
        "ON CONFLICT ({key}) DO UPDATE SET {updates}"
    ).format(
        target=target,
        cols=cols,
        temp=temp,
        key=pgsql.SQL(", ").join(map(pgsql.Identifier, key)),
        updates=updates,
    )
    if guard:
        merge += pgsql.SQL(" WHERE ({left}) < ({right})").format(
            left=pgsql.SQL(", ").join(pgsql.Identifier("t", c) for c in guard),
            right=pgsql.SQL(", ").join(pgsql.Identifier("excluded", c) for c in guard),
        )
    if returning:
        merge += pgsql.SQL(" RETURNING {0}").format(
            pgsql.SQL(", ").join(pgsql.Identifier("t", c) for c in returning)
        )
    return _BulkStatements(
        create_temp=pgsql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {temp} (LIKE {target} INCLUDING DEFAULTS) "
            "ON COMMIT DROP"
        ).format(temp=temp, target=target),
        truncate_temp=pgsql.SQL("TRUNCATE {0}").format(temp),
        copy=pgsql.SQL("COPY {temp} ({cols}) FROM STDIN").format(temp=temp, cols=cols),
        merge=merge,
    )
