"""The web tests' own database reset must leave nothing behind (it replaces TRUNCATE)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from storage.schema import Base
from tests.web.conftest import World, empty_database

pytestmark = pytest.mark.integration


def test_emptying_the_database_removes_every_row(pg_engine: Engine, world: World) -> None:
    empty_database(pg_engine)
    with Session(pg_engine) as session:
        left = {
            table.name: n
            for table in Base.metadata.sorted_tables
            if (n := session.scalar(select(func.count()).select_from(table)))
        }
    assert left == {}
