"""Minimal valid rows for any table of the schema, parent rows included, and the list of every
natural key in the metadata.

`RowFactory` fills each required column with a type-appropriate value unique in the test run,
takes the first allowed value of a `column IN (...)` check constraint, and creates the parent
row of each foreign key. Parents are shared within one row tree (`parents`, keyed by table), so a
work item, its integration and its job belong to the same tenant. A column type it does not
know fails with a message naming the column: a new table cannot silently escape the tests.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    insert,
)
from sqlalchemy.types import TypeDecorator

from storage.schema import Base

# One sequence for the whole run, so rows made by different tests never collide by accident.
_SEQUENCE = itertools.count(1)
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_IN_LIST = re.compile(r"^\s*(\w+)\s+IN\s*\(\s*'([^']*)'", re.IGNORECASE)


def _allowed_values(table: Table) -> dict[str, str]:
    """column → the first value its `column IN ('a', ...)` check constraint allows."""
    allowed = {}
    for constraint in table.constraints:
        if isinstance(constraint, CheckConstraint):
            match = _IN_LIST.match(str(constraint.sqltext))
            if match:
                allowed[match.group(1)] = match.group(2)
    return allowed


class RowFactory:
    def values(
        self,
        conn: Connection,
        table: Table,
        *,
        parents: dict[str, Any] | None = None,
        fill: Iterable[str] = (),
        overrides: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A row for `table`: required columns and the `fill` columns get fresh values, nullable
        foreign keys outside `fill` stay NULL, columns with defaults are left to them."""
        parents = {} if parents is None else parents
        overrides = overrides or {}
        fill = set(fill)
        allowed = _allowed_values(table)
        row: dict[str, Any] = {}
        for column in table.columns:
            name = column.name
            if name in overrides:
                row[name] = overrides[name]
            elif column is table.autoincrement_column:
                continue
            elif column.foreign_keys:
                if column.nullable and name not in fill:
                    continue
                row[name] = self._parent_id(conn, column, parents)
            elif name in fill or (
                not column.nullable and column.default is None and column.server_default is None
            ):
                row[name] = allowed[name] if name in allowed else self._fresh(table, column)
        return row

    def insert(
        self,
        conn: Connection,
        table: Table,
        *,
        parents: dict[str, Any] | None = None,
        fill: Iterable[str] = (),
        overrides: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Insert a row made by `values`; returns it with its primary key."""
        row = self.values(conn, table, parents=parents, fill=fill, overrides=overrides)
        key = conn.execute(insert(table).values(row).returning(*table.primary_key.columns)).one()
        return {**row, **key._asdict()}

    def _parent_id(self, conn: Connection, column: Column[Any], parents: dict[str, Any]) -> Any:
        (foreign_key,) = column.foreign_keys
        parent = foreign_key.column.table
        if parent.name not in parents:
            created = self.insert(conn, parent, parents=parents)
            parents[parent.name] = created[foreign_key.column.name]
        return parents[parent.name]

    @staticmethod
    def _fresh(table: Table, column: Column[Any]) -> Any:
        n = next(_SEQUENCE)
        kind = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
        if isinstance(kind, DateTime):
            return _EPOCH + timedelta(minutes=n)
        if isinstance(kind, Boolean):
            return True
        if isinstance(kind, Integer):
            return n
        if isinstance(kind, Float):
            return n + 0.5
        if isinstance(kind, String):
            suffix = f"-{n}"
            room = (kind.length or 200) - len(suffix)
            return column.name[: max(room, 0)] + suffix
        if isinstance(kind, JSON):
            return {"n": n}
        raise TypeError(
            f"RowFactory cannot make a value for {table.name}.{column.name} of type {kind!r}; "
            "teach RowFactory._fresh that type"
        )


@dataclass(frozen=True)
class NaturalKey:
    """A uniqueness rule of one table: a unique constraint, a unique index (possibly on
    expressions or partial) or a primary key that is not a surrogate id."""

    table: Table
    name: str
    columns: tuple[str, ...]  # the plain columns; expressions are not listed
    has_expressions: bool
    # Values that make a row fall under a partial index's WHERE clause.
    predicate: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.table.name}.{self.name}"


def _predicate(table: Table, index: Index) -> dict[str, Any]:
    where = index.dialect_options["postgresql"]["where"]
    if where is None:
        return {}
    text = str(where).strip()
    if text in table.c and isinstance(table.c[text].type, Boolean):
        return {text: True}
    raise AssertionError(
        f"cannot satisfy the WHERE clause {text!r} of unique index {index.name}; "
        "teach tests/storage/row_factory.py:_predicate"
    )


def natural_keys(tables: Iterable[Table] | None = None) -> list[NaturalKey]:
    found = []
    for table in tables if tables is not None else Base.metadata.sorted_tables:
        if table.autoincrement_column is None:
            pk = table.primary_key
            found.append(NaturalKey(table, str(pk.name), tuple(c.name for c in pk.columns), False))
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint):
                columns = tuple(c.name for c in constraint.columns)
                found.append(NaturalKey(table, str(constraint.name), columns, False))
        for index in table.indexes:
            if index.unique:
                plain = tuple(e.name for e in index.expressions if isinstance(e, Column))
                expressions = len(plain) < len(index.expressions)
                found.append(
                    NaturalKey(table, str(index.name), plain, expressions, _predicate(table, index))
                )
    return sorted(found, key=str)
