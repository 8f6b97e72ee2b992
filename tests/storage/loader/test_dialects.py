"""The same raw data gives the same tables on PostgreSQL (COPY path) and SQLite (row path), and
the PostgreSQL path runs a fixed number of statements per batch, whatever its size.

The raw data is what the real connectors extract from the simulator (issues with complete
changelogs, sprints, dev-status, statuses per project, repositories, pull requests with their
nested connections)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, select

from connectors.simulator import SimulatorServer, config_for
from storage.db import make_engine, session_factory
from storage.migrate import upgrade
from storage.schema import RawRecord
from tests.connectors.extract.env import extract, make_tenant

from .payloads import issue, pull_request
from .world import World

_FIELDS = {  # the simulator's field ids
    "sprints": "customfield_10020",
    "story_points": "customfield_10016",
    "team": "customfield_10001",
    "development": "customfield_10000",
}


@dataclass(frozen=True)
class Raw:
    entity: str
    external_id: str
    version: str
    payload: dict[str, Any]


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> list[Raw]:
    """Every raw record a Jira and a GitHub extraction of one simulated site stores."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('extract') / 'raw.db'}")
    upgrade(engine)
    scale = "issues=40,prs=16,projects=2,repos=2,histories=40"
    with SimulatorServer(config_for(scale, seed=11, sites="acme")) as sim:
        tenant = make_tenant(
            session_factory(engine), sim, "acme", jira_settings={"development_links": True}
        )
        extract(engine, tenant.id, tenant.jira_id)
        extract(engine, tenant.id, tenant.github_id)
    with session_factory(engine)() as session:
        rows = session.scalars(select(RawRecord).order_by(RawRecord.id)).all()
        raws = [Raw(r.entity, r.external_id, r.version, r.payload) for r in rows]
    engine.dispose()
    return raws


def _load_all(engine: Engine, raws: list[Raw], batch_size: int = 25) -> World:
    world = World(engine)
    for slot, field_id in _FIELDS.items():
        if slot != "sprints":
            world.map_field(slot, field_id)
    raw_ids = [world.store(r.entity, r.external_id, r.version, r.payload) for r in raws]
    records = [world.transform(raw_id) for raw_id in raw_ids]
    for start in range(0, len(records), batch_size):
        world.load(world.batch(*records[start : start + batch_size]))
    replay = world.load(world.batch(*records))
    assert replay.total_written == 0
    return world


@pytest.mark.integration
def test_postgresql_and_sqlite_load_the_same_tables(
    extracted: list[Raw], pg_engine: Engine, sqlite_engine: Engine
) -> None:
    entities = {r.entity for r in extracted}
    assert {"jira.issue", "jira.dev_status", "jira.status", "github.pull_request"} <= entities

    on_postgres = _load_all(pg_engine, extracted).dump()
    on_sqlite = _load_all(sqlite_engine, extracted).dump()

    assert {name: len(rows) for name, rows in on_postgres.items()} == {
        name: len(rows) for name, rows in on_sqlite.items()
    }
    for name, rows in on_postgres.items():
        assert rows == on_sqlite[name], name
    # The data exercises every table the loader writes.
    assert [name for name, rows in on_postgres.items() if not rows] == []


@pytest.fixture
def count_statements(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Counts every statement and COPY sent through psycopg."""
    sent = [0]

    def counting(method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            sent[0] += 1
            return method(self, *args, **kwargs)

        return wrapper

    for name in ("execute", "executemany", "copy"):
        monkeypatch.setattr(psycopg.Cursor, name, counting(getattr(psycopg.Cursor, name)))
    return lambda: sent[0]


@pytest.mark.integration
def test_the_number_of_statements_does_not_grow_with_the_batch(
    pg_engine: Engine, count_statements: Callable[[], int]
) -> None:
    world = World(pg_engine)

    def load(first: int, count: int, version: float) -> int:
        numbers = range(first, first + count)
        records = [
            *world.records(
                "jira.issue", (issue(n, sprints=[n % 3], updated=version) for n in numbers)
            ),
            *world.records(
                "github.pull_request", (pull_request(n, updated=version) for n in numbers)
            ),
        ]
        batch = world.batch(*records)
        before = count_statements()
        world.load(batch)
        return count_statements() - before

    small_new, large_new = load(1, 3, 5), load(100, 300, 5)
    small_update, large_update = load(1, 3, 9), load(100, 300, 9)

    assert small_new == large_new > 20  # counted: the upserts alone are 4 statements each
    assert small_update == large_update
    assert len(world.rows("work_items")) == 303


@pytest.mark.integration
def test_a_64_bit_repository_id_loads(pg_engine: Engine) -> None:
    world = World(pg_engine)
    repository = {
        "id": "R_kgDOLarge",
        "databaseId": 2_869_000_000_000,
        "name": "api",
        "nameWithOwner": "acme/api",
        "updatedAt": "2025-03-03T09:00:00Z",
    }
    world.load_records(world.record("github.repository", repository))
    assert world.rows("repositories")[0]["database_id"] == 2_869_000_000_000
