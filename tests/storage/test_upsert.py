"""Version-guarded upserts: replays are harmless, newer data wins, and the PostgreSQL COPY path
writes exactly what the row path writes."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select

from storage.schema import Base
from storage.upsert import UpsertResult, bulk_upsert, upsert_rows
from tests.storage.row_factory import RowFactory

WORK_ITEMS = Base.metadata.tables["work_items"]
KEY = ("tenant_id", "integration_id", "external_id")
PATHS = [upsert_rows, bulk_upsert]
Upsert = Callable[..., UpsertResult]
# Surrogate and bookkeeping columns: they differ between two tenants' copies by construction.
NOT_COMPARED = {"id", "tenant_id", "integration_id", "created_at", "updated_at"}


def _scope(conn: Connection) -> dict[str, int]:
    """A new tenant with one integration: the first two columns of the natural key."""
    parents: dict[str, Any] = {}
    integration = RowFactory().insert(conn, Base.metadata.tables["integrations"], parents=parents)
    return {"tenant_id": parents["tenants"], "integration_id": integration["id"]}


def _item(external_id: str, version: int, config_version: int = 0, **fields: Any) -> dict:
    return {
        "external_id": external_id,
        "key": f"PROJ-{external_id}",
        "version": version,
        "config_version": config_version,
        **fields,
    }


def _in(scope: Mapping[str, int], rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, **scope} for row in rows]


def _table(conn: Connection, scope: Mapping[str, int], table: Any = WORK_ITEMS) -> dict:
    """external_id → the compared columns of every row in the scope."""
    rows = conn.execute(
        select(table).where(
            table.c.tenant_id == scope["tenant_id"],
            table.c.integration_id == scope["integration_id"],
        )
    )
    return {
        row.external_id: {k: v for k, v in row._mapping.items() if k not in NOT_COMPARED}
        for row in rows
    }


@pytest.fixture(params=PATHS, ids=lambda f: f.__name__)
def upsert(request: pytest.FixtureRequest) -> Upsert:
    upsert: Upsert = request.param
    return upsert


def test_the_same_rows_twice_leave_the_same_table(shared_engine: Engine, upsert: Upsert) -> None:
    with shared_engine.begin() as conn:
        scope = _scope(conn)
        rows = _in(scope, [_item("1", 10, summary="first"), _item("2", 10, summary="second")])
        assert upsert(conn, WORK_ITEMS, rows, KEY).written == 2
        before = _table(conn, scope)
        assert upsert(conn, WORK_ITEMS, rows, KEY).written == 0
        assert _table(conn, scope) == before
    assert {k: v["summary"] for k, v in before.items()} == {"1": "first", "2": "second"}


@pytest.mark.parametrize(
    ("incoming", "wins"),
    [
        ((4, 1), False),  # an older version, even with a newer configuration
        ((5, 1), False),  # the same version and configuration: a replay
        ((5, 0), False),  # the same version, an older configuration
        ((6, 0), True),  # a newer version, even with an older configuration
        ((5, 2), True),  # the same version transformed with a newer configuration
    ],
    ids=["older", "equal", "older-config", "newer", "newer-config"],
)
def test_the_version_guard_decides_which_row_stays(
    shared_engine: Engine, upsert: Upsert, incoming: tuple[int, int], wins: bool
) -> None:
    with shared_engine.begin() as conn:
        scope = _scope(conn)
        upsert(conn, WORK_ITEMS, _in(scope, [_item("1", 5, 1, summary="stored")]), KEY)
        result = upsert(conn, WORK_ITEMS, _in(scope, [_item("1", *incoming, summary="new")]), KEY)
        stored = _table(conn, scope)["1"]
    assert result.written == int(wins)
    assert stored["summary"] == ("new" if wins else "stored")
    assert (stored["version"], stored["config_version"]) == (incoming if wins else (5, 1))


def test_duplicate_keys_in_one_call_keep_the_greatest_guard(
    shared_engine: Engine, upsert: Upsert
) -> None:
    rows = [
        _item("1", 1, summary="v1"),
        _item("1", 3, 0, summary="v3"),
        _item("1", 3, 2, summary="v3 remapped"),
        _item("1", 3, 1, summary="v3 older mapping"),
        _item("1", 2, summary="v2"),
    ]
    with shared_engine.begin() as conn:
        scope = _scope(conn)
        result = upsert(conn, WORK_ITEMS, _in(scope, rows), KEY)
        stored = _table(conn, scope)
    assert result.written == 1
    assert stored["1"]["summary"] == "v3 remapped"


def test_returning_lists_only_the_rows_written(shared_engine: Engine, upsert: Upsert) -> None:
    with shared_engine.begin() as conn:
        scope = _scope(conn)
        upsert(conn, WORK_ITEMS, _in(scope, [_item("old", 5), _item("newer", 5)]), KEY)
        result = upsert(
            conn,
            WORK_ITEMS,
            _in(scope, [_item("old", 4), _item("newer", 6), _item("brand-new", 1)]),
            KEY,
            returning=("external_id", "version"),
        )
    assert result.written == 2
    assert sorted(result.returned) == [("brand-new", 1), ("newer", 6)]


def test_columns_left_out_get_their_python_defaults(shared_engine: Engine, upsert: Upsert) -> None:
    """Also when another row of the same call does give the column."""
    with shared_engine.begin() as conn:
        scope = _scope(conn)
        rows = [
            {"external_id": "bare", "key": "PROJ-1", "version": 1},
            _item("full", 1, 3, active=False, labels=["x"], step_seconds={"Done": 1}),
        ]
        upsert(conn, WORK_ITEMS, _in(scope, rows), KEY)
        stored = _table(conn, scope)
    bare = stored["bare"]
    assert (bare["active"], bare["config_version"], bare["labels"], bare["step_seconds"]) == (
        True,
        0,
        [],
        {},
    )
    assert (bare["start_count"], bare["type_mapped"], bare["rework"]) == (0, False, False)
    assert stored["full"]["active"] is False
    assert stored["full"]["config_version"] == 3


def test_a_missing_json_value_is_sql_null_on_both_paths(
    shared_engine: Engine, upsert: Upsert
) -> None:
    fields = Base.metadata.tables["custom_fields"]
    with shared_engine.begin() as conn:
        scope = _scope(conn)
        row = {"external_id": "customfield_1", "name": "Team", "version": 1, "schema": None}
        upsert(conn, fields, _in(scope, [row]), KEY)
        is_null = conn.scalar(
            select(fields.c.schema.is_(None)).where(fields.c.tenant_id == scope["tenant_id"])
        )
    assert is_null is True


# --- the same random sequence through both paths --------------------------------------------

_TEXTS = ["plain", "tab\there", "new\nline", "back\\slash", "\\N", '"quoted"', "café ☕", ""]
_OFFSETS = [timezone(timedelta(hours=h)) for h in (-5, 0, 8)]


def _random_item(rng: random.Random) -> dict[str, Any]:
    moment = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**7))
    return _item(
        f"{rng.randrange(40)}",
        rng.randrange(1, 12),
        rng.randrange(3),
        summary=rng.choice([*_TEXTS, None]),
        labels=rng.sample(_TEXTS, rng.randrange(3)),
        step_seconds={rng.choice(_TEXTS): rng.randrange(10**6) / 4 for _ in range(3)},
        story_points=rng.choice([None, 0.5, 3.0, 13.25]),
        development=rng.choice([None, True, False]),
        source_updated_at=moment.astimezone(rng.choice(_OFFSETS)),
        resolved_at=rng.choice([None, moment + timedelta(microseconds=rng.randrange(10**6))]),
        active=rng.random() > 0.1,
        work_seconds=rng.randrange(10**9),
    )


def _expected(batches: list[list[dict[str, Any]]]) -> tuple[dict[str, dict], list[int]]:
    """The rule in plain Python: a row is written when its key is new or its guard is greater
    than the stored one; within a batch, the first row with the greatest guard stands."""
    table: dict[str, dict[str, Any]] = {}
    written = []
    for batch in batches:
        newest: dict[str, dict[str, Any]] = {}
        for row in batch:
            held = newest.get(row["external_id"])
            if held is None or _guard(row) > _guard(held):
                newest[row["external_id"]] = row
        wrote = [r for k, r in newest.items() if k not in table or _guard(r) > _guard(table[k])]
        table.update((r["external_id"], r) for r in wrote)
        written.append(len(wrote))
    return table, written


def _guard(row: Mapping[str, Any]) -> tuple[int, int]:
    return row["version"], row["config_version"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_random_sequence_gives_the_same_table_on_both_paths(
    shared_engine: Engine, seed: int
) -> None:
    rng = random.Random(seed)
    batches = []
    for _ in range(25):
        batches.append([_random_item(rng) for _ in range(rng.randrange(1, 25))])
    assert sum(map(len, batches)) > 250
    expected, expected_written = _expected(batches)

    with shared_engine.begin() as conn:
        by_rows, by_copy = _scope(conn), _scope(conn)
        for batch, should_write in zip(batches, expected_written, strict=True):
            assert upsert_rows(conn, WORK_ITEMS, _in(by_rows, batch), KEY).written == should_write
            assert bulk_upsert(conn, WORK_ITEMS, _in(by_copy, batch), KEY).written == should_write
        rows_table, copy_table = _table(conn, by_rows), _table(conn, by_copy)

    assert rows_table == copy_table
    assert rows_table.keys() == expected.keys()
    for external_id, row in expected.items():
        stored = rows_table[external_id]
        assert {k: stored[k] for k in row} == row


def test_a_batch_larger_than_one_statement_allows_is_split(any_engine: Engine) -> None:
    """Rows x columns past the dialect's parameter limit (SQLite 32,766, PostgreSQL 65,535)
    still load, deduplicated across the split."""
    from storage.db import session_factory, transaction
    from storage.repositories import tenants
    from storage.schema import Integration, Project

    with transaction(session_factory(any_engine)) as session:
        tenant = tenants.create_tenant(session, "Split")
        integration = Integration(tenant_id=tenant.id, name="j", provider="jira", settings={})
        session.add(integration)
        session.flush()
        rows = [
            {
                "tenant_id": tenant.id,
                "integration_id": integration.id,
                "external_id": str(n % 7000),
                "key": f"P{n}",
                "name": "x",
                "version": n,
                "raw_id": n,
            }
            for n in range(8000)
        ]
        result = upsert_rows(
            session.connection(),
            Project.__table__,
            rows,
            ["tenant_id", "integration_id", "external_id"],
        )
        assert result.written == 7000
        newest = session.scalar(select(Project.version).where(Project.external_id == "5"))
        assert newest == 7005  # the greater version of the two rows with that key
