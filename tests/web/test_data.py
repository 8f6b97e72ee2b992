"""The data browser (work items, pull requests, lineage down to the raw JSON) and the raw-store
API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from storage.schema import RawRecord, WorkItem
from tests.storage.statements import statements_sent
from tests.web.conftest import HX, ClientFactory, World

pytestmark = pytest.mark.integration


def _add_items(engine, world: World, count: int) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        session.add_all(
            WorkItem(
                tenant_id=world.a.id,
                integration_id=world.a.ids["integration_id"],
                external_id=f"9{n:05d}",
                key=f"BULK-{n}",
                project_key="BULK",
                summary=f"bulk item {n}",
                source_type="Task",
                type_name="Task",
                type_mapped=True,
                source_status="Done",
                workflow_step="Done",
                status_mapped=True,
                version=1,
                source_updated_at=start + timedelta(minutes=n),
            )
            for n in range(count)
        )


def test_work_items_list_filters_and_pages(world: World, viewer, pg_engine) -> None:
    _add_items(pg_engine, world, 120)
    page = viewer.get("/data/work-items")
    assert page.status_code == 200
    pager = page.context["page"]
    assert (pager.first, pager.last, pager.total) == (1, 50, 123)
    assert pager.next_url == "/data/work-items?page=2"
    assert pager.previous_url is None
    assert "ALPH-3" in page.text  # newest first: the world's items are dated 2024-05
    last = viewer.get("/data/work-items?page=3", headers={**HX, "HX-Target": "results"})
    assert "<h1>" not in last.text
    assert "<table>" in last.text
    assert (last.context["page"].first, last.context["page"].last) == (101, 123)
    assert last.context["page"].next_url is None
    search = viewer.get("/data/work-items?q=bulk+item+11", headers={**HX, "HX-Target": "results"})
    assert {r.key for r in search.context["rows"]} == {
        "BULK-11",
        *(f"BULK-{n}" for n in range(110, 120)),
    }
    unmapped = viewer.get("/data/work-items?unmapped=1")
    assert [r.key for r in unmapped.context["rows"]] == ["ALPH-2"]
    by_project = viewer.get("/data/work-items?project=ALPH&step=Limbo")
    assert [r.key for r in by_project.context["rows"]] == ["ALPH-2"]


def test_summaries_from_the_source_are_escaped(world: World, viewer) -> None:
    page = viewer.get("/data/work-items")
    assert "&lt;b&gt;Item 1&lt;/b&gt; of ALPHA" in page.text
    assert "<b>Item 1</b>" not in page.text
    raw = viewer.get(f"/data/raw/{world.a.ids['raw_id']}")
    assert "<script>alert" not in raw.text
    assert "&lt;script&gt;alert(" in raw.text


def test_work_item_lineage_reaches_the_raw_json(world: World, viewer) -> None:
    item = viewer.get(f"/data/work-items/{world.a.ids['work_item_id']}")
    assert item.status_code == 200
    assert item.context["raw"].id == world.a.ids["raw_id"]
    assert f'href="/data/raw/{world.a.ids["raw_id"]}"' in item.text
    assert [t.to_status for t in item.context["transitions"]] == ["In Progress"]
    assert [link.pr_number for link in item.context["links"]] == [7]
    raw = viewer.get(f"/data/raw/{world.a.ids['raw_id']}")
    assert raw.status_code == 200
    assert "raw summary ALPHA" in raw.text
    assert [v.id for v in raw.context["versions"]] == [world.a.ids["raw_id"]]


def test_pull_requests_list_and_detail(world: World, viewer) -> None:
    listed = viewer.get("/data/pull-requests?state=merged")
    assert [r.number for r in listed.context["rows"]] == [7]
    assert viewer.get("/data/pull-requests?state=open").context["rows"] == []
    detail = viewer.get(f"/data/pull-requests/{world.a.ids['pull_request_id']}")
    assert detail.status_code == 200
    assert [key for key, _ in detail.context["linked"]] == ["ALPH-1"]
    assert f'href="/data/work-items/{world.a.ids["work_item_id"]}"' in detail.text
    assert len(detail.context["detail"].commits) == 1


def test_a_results_fragment_renders_without_reading_the_filter_choices(
    world: World, viewer, pg_engine
) -> None:
    for path in ("/data/work-items", "/data/pull-requests"):
        with statements_sent(pg_engine) as sent:
            full = viewer.get(path)
        assert any("UNION ALL" in sql for sql, _ in sent)  # the choices, for the filter form
        assert 'name="integration"' in full.text
        with statements_sent(pg_engine) as sent:
            results = viewer.get(f"{path}?q=a", headers={**HX, "HX-Target": "results"})
        assert results.status_code == 200
        assert "<table>" in results.text
        assert 'name="integration"' not in results.text
        assert not any("UNION ALL" in sql for sql, _ in sent)


def test_the_raw_records_api(world: World, client_factory: ClientFactory, pg_engine) -> None:
    with Session(pg_engine) as session, session.begin():
        for n in range(5):
            session.add(
                RawRecord(
                    tenant_id=world.a.id,
                    integration_id=world.a.ids["github_integration_id"],
                    entity="github.pull_request",
                    external_id=f"PR_{n}",
                    version=str(n),
                    content_hash=f"h{n}",
                    payload={"number": n},
                )
            )
    client = client_factory()
    auth = {"Authorization": f"Bearer {world.a.tokens['viewer']}"}
    everything = client.get("/api/v1/raw-records", headers=auth).json()
    assert len(everything["records"]) == 6
    assert everything["next_before"] is None
    assert "payload" not in everything["records"][0]
    page = client.get("/api/v1/raw-records?entity=github.pull_request&limit=2", headers=auth).json()
    assert [r["external_id"] for r in page["records"]] == ["PR_4", "PR_3"]
    rest = client.get(
        f"/api/v1/raw-records?entity=github.pull_request&limit=2&before={page['next_before']}",
        headers=auth,
    ).json()
    assert [r["external_id"] for r in rest["records"]] == ["PR_2", "PR_1"]
    by_run = client.get(f"/api/v1/raw-records?run={world.a.ids['run_id']}", headers=auth).json()
    assert [r["id"] for r in by_run["records"]] == [world.a.ids["raw_id"]]
    by_id = client.get(
        "/api/v1/raw-records?external_id=10001&integration=" + str(world.a.ids["integration_id"]),
        headers=auth,
    ).json()
    assert len(by_id["records"]) == 1
    one = client.get(f"/api/v1/raw-records/{world.a.ids['raw_id']}", headers=auth).json()
    assert one["payload"]["key"] == "ALPH-1"
    assert one["entity"] == "jira.issue"
    invalid = client.get("/api/v1/raw-records?run=abc&limit=9999", headers=auth)
    assert invalid.status_code == 422
    assert set(invalid.json()["fields"]) == {"run", "limit"}
    foreign = client.get(f"/api/v1/raw-records/{world.b.ids['raw_id']}", headers=auth)
    assert foreign.status_code == 404
    foreign_filter = client.get(
        f"/api/v1/raw-records?integration={world.b.ids['integration_id']}", headers=auth
    ).json()
    assert foreign_filter["records"] == []
