"""The data pages' text search on PostgreSQL reads the trigram indexes of migration 0003, not
the whole table: EXPLAIN of the very statements `work_items_page` and `pull_requests_page`
send, over 40,000 rows with descriptions and bodies of a few hundred bytes as real ones have,
names the indexes and scans no table."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, inspect, text

from storage.db import session_factory
from storage.repositories.browse import (
    PullRequestFilter,
    WorkItemFilter,
    pull_requests_page,
    work_items_page,
)
from storage.schema import Base
from tests.storage.row_factory import RowFactory
from tests.storage.statements import statements_sent

pytestmark = pytest.mark.integration

ROWS = 40_000
NEEDLE = "zebracorn"  # in the summary or title of every 4,000th row only
PROSE = "repeat(md5(g::text), 12)"  # a description or body of 384 bytes


def _copies(conn: Connection, table: str, seed_id: int, varied: dict[str, str]) -> None:
    """ROWS copies of row `seed_id`, with the `varied` columns computed from `g`."""
    columns = [c["name"] for c in inspect(conn).get_columns(table) if c["name"] != "id"]
    values = [varied.get(name, name) for name in columns]
    conn.execute(
        text(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM {table}, generate_series(1, {ROWS}) AS g "
            "WHERE id = :seed"
        ),
        {"seed": seed_id},
    )
    conn.execute(text(f"ANALYZE {table}"))


@pytest.fixture
def big_tables(pg_engine: Engine) -> int:
    """A tenant with ROWS work items and ROWS pull requests; returns the tenant id."""
    rows, parents = RowFactory(), {}
    tables = Base.metadata.tables
    with pg_engine.begin() as conn:
        item = rows.insert(conn, tables["work_items"], parents=parents)
        pr = rows.insert(conn, tables["pull_requests"], parents=parents)
        summary = f"CASE WHEN g % 4000 = 0 THEN 'the {NEEDLE} story ' || g ELSE md5(g::text) END"
        _copies(
            conn,
            "work_items",
            item["id"],
            {
                "external_id": "'x' || g",
                "key": "'PROJ-' || g",
                "summary": summary,
                "description": PROSE,
                "source_updated_at": "now() - g * interval '1 minute'",
            },
        )
        _copies(
            conn,
            "pull_requests",
            pr["id"],
            {
                "external_id": "'x' || g",
                "number": "g",
                "repository_full_name": "'org/repo-' || (g % 50)",
                "title": summary,
                "body": PROSE,
                "source_updated_at": "now() - g * interval '1 minute'",
            },
        )
    return int(parents["tenants"])


def _plans(engine: Engine, page: Callable[[], Any]) -> list[str]:
    """EXPLAIN of every statement `page()` sends, each as its plan's JSON text."""
    with statements_sent(engine) as sent:
        page()
    assert sent
    plans = []
    with engine.connect() as conn:
        for statement, parameters in sent:
            plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar()
            plans.append(json.dumps(plan))
    return plans


def test_work_item_search_uses_the_trigram_indexes(pg_engine: Engine, big_tables: int) -> None:
    factory = session_factory(pg_engine)
    with factory() as session:

        def page() -> Any:
            return work_items_page(session, big_tables, WorkItemFilter(search=NEEDLE.upper()))

        found = page()
        plans = _plans(pg_engine, page)
    assert found.total == ROWS // 4000
    assert all(NEEDLE in (row.summary or "") for row in found.rows)
    for plan in plans:  # the count, then the page
        assert "ix_work_items_summary_trgm" in plan, plan
        assert "ix_work_items_key_trgm" in plan, plan
        assert "Seq Scan" not in plan, plan


def test_pull_request_search_uses_the_trigram_indexes(pg_engine: Engine, big_tables: int) -> None:
    factory = session_factory(pg_engine)
    with factory() as session:

        def page() -> Any:
            return pull_requests_page(session, big_tables, PullRequestFilter(search=NEEDLE))

        found = page()
        plans = _plans(pg_engine, page)
    assert found.total == ROWS // 4000
    for plan in plans:
        assert "ix_pull_requests_title_trgm" in plan, plan
        assert "ix_pull_requests_repository_full_name_trgm" in plan, plan
        assert "Seq Scan" not in plan, plan
