"""Configuration pages: type mappings and hierarchy levels, status mappings and workflows,
custom-field slots, and the replay offered after an edit. Every edit bumps the tenant's
config version (the dataflows cache the configuration by it)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.repositories import config
from storage.schema import CustomFieldMapping, StatusMapping, Tenant, WitMapping, Workflow
from tests.web.conftest import HX, World

pytestmark = pytest.mark.integration


def _version(engine, tenant_id: int) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(Tenant.config_version).where(Tenant.id == tenant_id)) or 0)


def _events(response) -> dict[str, object]:
    return json.loads(response.headers.get("HX-Trigger", "{}"))


# --- type mappings and hierarchies ---------------------------------------------------------------


def test_type_mappings_page_filters_and_lists_unmapped_types(world: World, viewer) -> None:
    page = viewer.get("/wit-mappings")
    assert page.status_code == 200
    unmapped = page.context["unmapped"]
    assert [(u.source_name, u.items) for u in unmapped] == [("Gizmo", 1)]
    assert 'class="unmapped"' in page.text
    assert "Add a mapping" not in page.text  # viewers read only
    filtered = viewer.get("/wit-mappings?q=bug", headers={**HX, "HX-Target": "mapping_table"})
    assert {r.source_name for r in filtered.context["rows"]} == {"Bug", "Defect", "Sub-bug"}
    assert "<h1>" not in filtered.text


def test_create_edit_and_delete_a_type_mapping(world: World, admin, pg_engine) -> None:
    level = world.a.ids["hierarchy_id"]
    before = _version(pg_engine, world.a.id)
    created = admin.post(
        "/wit-mappings",
        data={"source_name": "Gizmo", "canonical_type": "Story", "hierarchy_id": str(level)},
        headers=HX,
    )
    assert created.status_code == 204
    assert _events(created)["configChanged"] is True
    assert _version(pg_engine, world.a.id) == before + 1
    with Session(pg_engine) as session:
        row = session.scalars(select(WitMapping).where(WitMapping.source_key == "gizmo")).one()
    editor = admin.get(f"/wit-mappings/{row.id}/edit", headers=HX)
    assert 'class="editing"' in editor.text
    assert "<html" not in editor.text
    saved = admin.post(
        f"/wit-mappings/{row.id}",
        data={"source_name": "Gizmo", "canonical_type": "Widget", "hierarchy_id": str(level)},
        headers=HX,
    )
    assert saved.status_code == 200
    assert "Widget" in saved.text
    assert "<tr" in saved.text
    assert 'class="editing"' not in saved.text
    assert admin.post(f"/wit-mappings/{row.id}/delete", headers=HX).status_code == 200
    with Session(pg_engine) as session:
        assert session.get(WitMapping, row.id) is None


def test_type_mapping_errors_are_422_with_field_messages(world: World, admin) -> None:
    level = str(world.a.ids["hierarchy_id"])
    duplicate = admin.post(
        "/wit-mappings",
        data={"source_name": " story ", "canonical_type": "Story", "hierarchy_id": level},
        headers=HX,
    )
    assert duplicate.status_code == 422
    assert duplicate.context["errors"] == {"source_name": "this source name is already mapped"}
    empty = admin.post("/wit-mappings", data={"hierarchy_id": "x"}, headers=HX)
    assert empty.status_code == 422
    assert set(empty.context["errors"]) == {"source_name", "canonical_type", "hierarchy_id"}
    mapping = world.a.ids["wit_mapping_id"]
    inline = admin.post(
        f"/wit-mappings/{mapping}",
        data={"source_name": "", "canonical_type": "X", "hierarchy_id": level},
        headers=HX,
    )
    assert inline.status_code == 422
    assert 'class="editing"' in inline.text
    assert "this field is required" in inline.text


def test_deleting_a_level_in_use_asks_where_its_mappings_go(world: World, admin, pg_engine) -> None:
    with Session(pg_engine) as session:
        levels = config.list_hierarchies(session, world.a.id)
        story = next(h for h in levels if h.name == "Story")
        epic = next(h for h in levels if h.name == "Epic")
        used = session.scalars(
            select(WitMapping.id).where(WitMapping.hierarchy_id == story.id)
        ).all()
    assert used
    asked = admin.post(f"/wit-hierarchies/{story.id}/delete", headers=HX)
    assert asked.status_code == 200
    assert "<dialog" in asked.text
    assert f"{len(used)} type mapping(s)" in asked.text
    assert 'name="move_to"' in asked.text
    unanswered = admin.post(f"/wit-hierarchies/{story.id}/delete", data={"move_to": ""}, headers=HX)
    assert unanswered.status_code == 422
    moved = admin.post(
        f"/wit-hierarchies/{story.id}/delete", data={"move_to": str(epic.id)}, headers=HX
    )
    assert moved.status_code == 204
    assert f"{len(used)} mapping(s) moved" in _events(moved)["showMessage"]  # type: ignore[operator]
    with Session(pg_engine) as session:
        targets = session.scalars(select(WitMapping.hierarchy_id).where(WitMapping.id.in_(used)))
        assert set(targets) == {epic.id}


def test_hierarchy_create_and_inline_edit(world: World, admin) -> None:
    clash = admin.post("/wit-hierarchies", data={"level_number": "0", "name": "Other"}, headers=HX)
    assert clash.status_code == 422
    assert "level_number" in clash.context["errors"]
    assert (
        admin.post(
            "/wit-hierarchies", data={"level_number": "9", "name": "Portfolio"}, headers=HX
        ).status_code
        == 204
    )
    level = world.a.ids["hierarchy_id"]
    edited = admin.post(
        f"/wit-hierarchies/{level}", data={"level_number": "-2", "name": "Step"}, headers=HX
    )
    assert edited.status_code == 200
    assert "Step" in edited.text


# --- status mappings and workflows -----------------------------------------------------------


def test_status_mapping_inline_edit_and_one_click_mapping(world: World, admin, pg_engine) -> None:
    page = admin.get("/status-mappings")
    assert [(u.source_name, u.items) for u in page.context["unmapped"]] == [("Limbo", 1)]
    steps = dict((label, value) for value, label in page.context["steps"])
    mapped = admin.post(
        "/status-mappings",
        data={
            "source_name": "Limbo",
            "workflow_id": steps["Code Review"],
            "integration_id": str(world.a.ids["integration_id"]),
        },
        headers=HX,
    )
    assert mapped.status_code == 204
    assert _events(mapped)["configChanged"] is True
    mapping = world.a.ids["status_mapping_id"]
    saved = admin.post(
        f"/status-mappings/{mapping}",
        data={"source_name": "Signed Off", "workflow_id": steps["Ready"], "active": "on"},
        headers=HX,
    )
    assert saved.status_code == 200
    assert '<td class="step">Ready</td>' in saved.text
    with Session(pg_engine) as session:
        row = session.get(StatusMapping, mapping)
        assert row is not None
        assert row.workflow_id == int(steps["Ready"])
    bad = admin.post(
        f"/status-mappings/{mapping}",
        data={"source_name": "Signed Off", "workflow_id": "0"},
        headers=HX,
    )
    assert bad.status_code == 422
    assert bad.context["errors"] == {"workflow_id": "choose one of the workflow steps"}


def test_workflow_reorder_and_one_commitment_point(world: World, admin, pg_engine) -> None:
    step = world.a.ids["step_id"]  # "In Progress", order 5
    moved = admin.post(f"/workflows/{step}/move", data={"direction": "up"}, headers=HX)
    assert moved.status_code == 200
    assert moved.headers["HX-Retarget"] == "#workflow_table"
    with Session(pg_engine) as session:
        orders = dict(
            session.execute(
                select(Workflow.step_name, Workflow.step_order).where(
                    Workflow.tenant_id == world.a.id
                )
            ).all()
        )
    assert orders["In Progress"] == 4
    assert orders["To Do"] == 5
    committed = admin.post(f"/workflows/{step}/commitment", headers=HX)
    assert committed.status_code == 200
    with Session(pg_engine) as session:
        points = session.scalars(
            select(Workflow.step_name).where(
                Workflow.tenant_id == world.a.id, Workflow.is_commitment_point.is_(True)
            )
        ).all()
    assert points == ["In Progress"]
    done = next(s.id for s in _steps(pg_engine, world.a.id) if s.step_name == "Done")
    refused = admin.post(f"/workflows/{done}/commitment", headers=HX)
    assert refused.status_code == 422
    assert "before done" in refused.text
    deleting_point = admin.post(f"/workflows/{step}/delete", headers=HX)
    assert deleting_point.status_code == 409


def _steps(engine, tenant_id: int) -> list[Workflow]:
    with Session(engine) as session:
        return config.list_workflow_steps(session, tenant_id)


def test_workflow_step_create_edit_and_delete_with_move(world: World, admin, pg_engine) -> None:
    created = admin.post(
        "/workflows", data={"step_name": "Blocked", "category": "waiting"}, headers=HX
    )
    assert created.status_code == 200
    assert "Blocked" in created.text
    invalid = admin.post("/workflows", data={"step_name": "", "category": "sleeping"}, headers=HX)
    assert invalid.status_code == 422
    assert set(invalid.context["errors"]) == {"step_name", "category"}
    assert invalid.headers["HX-Retarget"] == "#create_form"
    steps = {s.step_name: s for s in _steps(pg_engine, world.a.id)}
    edited = admin.post(
        f"/workflows/{steps['Testing'].id}",
        data={"step_name": "QA", "category": "waiting"},
        headers=HX,
    )
    assert edited.status_code == 200
    assert "QA" in edited.text
    asked = admin.post(f"/workflows/{steps['Testing'].id}/delete", headers=HX)  # now "QA"
    assert "<dialog" in asked.text
    deleted = admin.post(
        f"/workflows/{steps['Testing'].id}/delete",
        data={"move_to": str(steps["Code Review"].id)},
        headers=HX,
    )
    assert deleted.status_code == 204
    orders = sorted(s.step_order for s in _steps(pg_engine, world.a.id) if s.step_order)
    assert orders == list(range(1, len(orders) + 1))  # renumbered without gaps


# --- custom fields and replay -----------------------------------------------------------------


def test_custom_field_slots(world: World, admin, pg_engine) -> None:
    page = admin.get("/custom-fields")
    assert page.status_code == 200
    assert "Story Points ALPHA" in page.text
    assert "customfield_10016" in page.text
    integration = str(world.a.ids["integration_id"])
    assigned = admin.post(
        "/custom-fields",
        data={
            "integration_id": integration,
            "slot": "custom_03",
            "field_external_id": "customfield_10016",
        },
        headers=HX,
    )
    assert assigned.status_code == 200
    assert _events(assigned)["configChanged"] is True
    unknown = admin.post(
        "/custom-fields",
        data={
            "integration_id": integration,
            "slot": "custom_04",
            "field_external_id": "customfield_999",
        },
        headers=HX,
    )
    assert unknown.status_code == 422
    assert unknown.context["errors"] == {
        "field_external_id": "choose a field of this integration's catalog"
    }
    with Session(pg_engine) as session:
        slots = dict(
            session.execute(
                select(CustomFieldMapping.slot, CustomFieldMapping.id).where(
                    CustomFieldMapping.tenant_id == world.a.id
                )
            ).all()
        )
    assert set(slots) == {"story_points", "custom_03"}
    cleared = admin.post(
        f"/custom-fields/{slots['custom_03']}/delete",
        data={"integration_id": integration},
        headers=HX,
    )
    assert cleared.status_code == 200


def test_replay_runs_and_reports_progress(app, world: World, admin) -> None:
    started = admin.post("/tenant/replay", headers=HX)
    assert started.status_code == 200
    app.state.web.replays.join(world.a.id, timeout=60)
    status = admin.get("/tenant/replay", headers=HX)
    assert app.state.web.replays.error(world.a.id) is None, status.text
    assert "Replay finished" in status.text or "raw record" in status.text
