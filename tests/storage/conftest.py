"""Engine fixtures for the storage tests, parametrised over both dialects with the PostgreSQL
case marked `integration` (so `-m "not integration"` still runs the SQLite half)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from storage.db import make_engine
from storage.migrate import upgrade
from tests.conftest import _truncate_all

DIALECTS = [pytest.param("postgresql", marks=pytest.mark.integration), "sqlite"]


@pytest.fixture(params=DIALECTS)
def engine(request: pytest.FixtureRequest) -> Engine:
    """An empty database at head: the run's PostgreSQL database or a fresh SQLite file."""
    fixture = "pg_engine" if request.param == "postgresql" else "sqlite_engine"
    engine: Engine = request.getfixturevalue(fixture)
    return engine


@pytest.fixture(scope="module")
def module_pg_engine(migrated_pg: Engine) -> Engine:
    """The run's PostgreSQL database, emptied once at the start of the module."""
    _truncate_all(migrated_pg)
    return migrated_pg


@pytest.fixture(scope="module")
def module_sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'pulse.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=DIALECTS)
def shared_engine(request: pytest.FixtureRequest) -> Engine:
    """Like `engine`, but emptied (or migrated) once per module, not before each test: for tests
    that only insert rows with values no other test of the module uses."""
    fixture = "module_pg_engine" if request.param == "postgresql" else "module_sqlite_engine"
    engine: Engine = request.getfixturevalue(fixture)
    return engine
