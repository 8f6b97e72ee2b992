"""The data browser's lists (`Listing`): every filter alone and combined returns exactly the
matching rows of the tenant, newest first, on both dialects; the count stops at its cap and
the cap moves with the page; an unknown filter is an error, not an unfiltered list."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from storage.db import session_factory
from storage.repositories.browse import WorkItemFilter, work_items_page
from storage.repositories.listing import COUNT_CAP, COUNT_PAGES_AHEAD
from storage.schema import Base
from tests.storage.row_factory import RowFactory

pytestmark = pytest.mark.integration

WORK_ITEMS = Base.metadata.tables["work_items"]
START = datetime(2025, 1, 1, tzinfo=UTC)
VARIED = {"key", "project_key", "summary", "type_name", "source_type", "type_mapped"}
VARIED |= {"workflow_step", "source_status", "status_mapped", "source_updated_at"}


def _items(engine: Engine, count: int) -> tuple[int, int, list[dict[str, Any]]]:
    """`count` work items of one tenant with varied fields (item 0 matches every filter), plus
    one item of another tenant that matches every filter. Returns the tenant, its integration
    and the rows."""
    rows = RowFactory()
    with engine.begin() as conn:
        parents: dict[str, Any] = {}
        seed = rows.values(conn, WORK_ITEMS, parents=parents)
        made = [
            {
                **seed,
                "external_id": f"x{n}",
                "key": f"{'CORE' if n % 3 == 0 else 'WEB'}-{n}",
                "project_key": "CORE" if n % 3 == 0 else "WEB",
                "summary": f"item {n} {'needle' if n % 7 == 0 else 'hay'}",
                "type_name": "Bug" if n % 2 == 0 else "Story",
                "source_type": "Bug" if n % 2 == 0 else "Story",
                "type_mapped": n % 5 != 0,
                "workflow_step": "Review" if n % 4 == 0 else "Doing",
                "source_status": "In Review" if n % 4 == 0 else "In Progress",
                "status_mapped": True,
                "source_updated_at": START + timedelta(minutes=n),
            }
            for n in range(count)
        ]
        conn.execute(insert(WORK_ITEMS), made)
        stranger = rows.values(conn, WORK_ITEMS, parents={})
        conn.execute(
            insert(WORK_ITEMS),
            [{**stranger, **{k: v for k, v in made[0].items() if k in VARIED}}],
        )
    return seed["tenant_id"], seed["integration_id"], made


FILTERS: dict[str, tuple[dict[str, Any], Any]] = {
    "project_key": ({"project_key": "CORE"}, lambda r: r["project_key"] == "CORE"),
    "type_name": ({"type_name": "Bug"}, lambda r: r["type_name"] == "Bug"),
    "workflow_step": ({"workflow_step": "In Review"}, lambda r: r["source_status"] == "In Review"),
    "unmapped": ({"unmapped": True}, lambda r: not r["type_mapped"]),
    "search": ({"search": "NEEDLE"}, lambda r: "needle" in r["summary"]),
}


@pytest.mark.parametrize(
    "names",
    [(name,) for name in FILTERS] + list(itertools.combinations(FILTERS, 2)) + [tuple(FILTERS)],
    ids=lambda names: "+".join(names),
)
def test_filters_alone_and_combined(any_engine: Engine, names: tuple[str, ...]) -> None:
    tenant_id, integration_id, made = _items(any_engine, 120)
    given: dict[str, Any] = {"integration_id": integration_id}
    for name in names:
        given.update(FILTERS[name][0])
    expected = [r for r in made if all(FILTERS[name][1](r) for name in names)]
    expected.sort(key=lambda r: r["source_updated_at"], reverse=True)
    assert expected, "item 0 matches every filter"
    with session_factory(any_engine)() as session:
        found = work_items_page(session, tenant_id, WorkItemFilter(**given), limit=200)
    assert [row.key for row in found.rows] == [r["key"] for r in expected]
    assert (found.total, found.capped) == (len(expected), False)


def test_the_count_stops_at_its_cap_and_the_cap_moves_with_the_page(any_engine: Engine) -> None:
    tenant_id, _, made = _items(any_engine, COUNT_CAP + 100)
    with session_factory(any_engine)() as session:
        first = work_items_page(session, tenant_id, WorkItemFilter(), limit=50)
        assert (first.total, first.capped) == (COUNT_CAP, True)
        assert first.rows[0].key == made[-1]["key"]
        # Page 20 of 50: the cap becomes 19 * 50 + 20 pages ahead, past the last row.
        offset = 19 * 50
        assert offset + COUNT_PAGES_AHEAD * 50 > len(made)
        deep = work_items_page(session, tenant_id, WorkItemFilter(), limit=50, offset=offset)
    assert (deep.total, deep.capped) == (len(made), False)
    assert [row.key for row in deep.rows] == [r["key"] for r in made[::-1][offset : offset + 50]]


def test_an_unknown_filter_is_an_error(any_engine: Engine) -> None:
    from storage.repositories.browse import _WORK_ITEMS

    with (
        session_factory(any_engine)() as session,
        pytest.raises(ValueError, match="no such filter: colour"),
    ):
        _WORK_ITEMS.page(session, 1, {"colour": "red"}, limit=50, offset=0)


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("100%", ["100% done"]),  # not "1000 done": % is no wildcard
        ("a_b", ["a_b"]),  # not "axb": nor is _
        ("c:\\tmp", ["c:\\tmp"]),  # a backslash is itself
        ("  DONE ", ["1000 done", "100% done"]),  # trimmed, any case
    ],
)
def test_search_text_matches_literally(
    any_engine: Engine, search: str, expected: list[str]
) -> None:
    tenant_id, _, made = _items(any_engine, 4)
    summaries = ["100% done", "1000 done", "a_b", "axb", "c:\\tmp", "c:tmp"]
    with any_engine.begin() as conn:
        for n, summary in enumerate(summaries):
            conn.execute(
                insert(WORK_ITEMS),
                [
                    {
                        **made[0],
                        "external_id": f"s{n}",
                        "key": f"S-{n}",
                        "summary": summary,
                        "source_updated_at": START + timedelta(days=1, minutes=n),
                    }
                ],
            )
    with session_factory(any_engine)() as session:
        found = work_items_page(session, tenant_id, WorkItemFilter(search=search), limit=50)
    assert [row.summary for row in found.rows] == expected
