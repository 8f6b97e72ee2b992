"""Tenant isolation through HTTP: every route of the app, called by every role of tenant A
with tenant B's object ids, answers 403 (the role may not) or 404 (the role may, but the
object is not A's), never shows any of B's data, and changes none of B's rows. Routes without
ids are called too (lists, creates with B's ids in the form). A route the sweep cannot fill
fails the test, so a new route is swept the day it is added."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette

from tests.web.conftest import HX, ClientFactory, World
from tests.web.routes import PUBLIC, SELF_GUARDED, endpoints, hostile_form, snapshot
from web.auth import ROLE_RANK

pytestmark = pytest.mark.integration

ROLES = ("admin", "user", "viewer")


def _leaks(text: str) -> bool:
    return "bravo" in text.lower()


def test_every_route_is_guarded_or_known_public(app: Starlette) -> None:
    found = endpoints(app)
    assert len(found) > 50
    unguarded = [
        f"{e.method} {e.path}"
        for e in found
        if e.guard is None and e.path not in PUBLIC | SELF_GUARDED
    ]
    assert not unguarded, f"routes without a declared role: {unguarded}"
    assert all(e.guard.api for e in found if e.api and e.guard is not None)


def test_no_route_reaches_another_tenants_objects(
    app: Starlette, world: World, client_factory: ClientFactory, pg_engine: Engine
) -> None:
    b_before = snapshot(pg_engine, world.b.id)
    clients = {role: client_factory(world.a.users[role]) for role in ROLES}
    bearer = {role: {"Authorization": f"Bearer {world.a.tokens[role]}"} for role in ROLES}
    problems: list[str] = []
    called = 0
    for endpoint in endpoints(app):
        if endpoint.path in PUBLIC or endpoint.guard is None:
            continue
        for role in ROLES:
            client = clients[role]
            headers = {**HX} if not endpoint.api else {**bearer[role]}
            allowed = ROLE_RANK[role] >= ROLE_RANK[endpoint.guard.role]
            url = endpoint.url(world.b) if endpoint.has_ids else endpoint.path
            form = hostile_form(world.b) if endpoint.method != "GET" else None
            response = client.request(endpoint.method, url, headers=headers, data=form)
            called += 1
            label = f"{role} {endpoint.method} {url}"
            if _leaks(response.text):
                problems.append(f"{label}: response shows tenant B's data")
            if not allowed:
                if response.status_code != 403:
                    problems.append(f"{label}: {response.status_code}, expected 403")
            elif endpoint.has_ids:
                if response.status_code != 404:
                    problems.append(f"{label}: {response.status_code}, expected 404")
            elif endpoint.method == "GET":
                if response.status_code != 200:
                    problems.append(f"{label}: {response.status_code}, expected 200")
            elif response.status_code not in (200, 204, 404, 409, 422):
                problems.append(f"{label}: {response.status_code}")
    app.state.web.replays.join(world.a.id, timeout=30)
    assert called > 150
    assert not problems, "\n".join(problems)
    assert snapshot(pg_engine, world.b.id) == b_before, "a call of tenant A changed B's rows"


def test_creates_never_point_at_another_tenants_objects(
    app: Starlette, world: World, admin, pg_engine: Engine
) -> None:
    """A's admin submits every create form with B's ids: each is refused with a field error,
    and none of A's rows ends up referencing B's."""
    b = world.b.ids
    cases = [
        (
            "/wit-mappings",
            {"source_name": "X", "canonical_type": "X", "hierarchy_id": b["hierarchy_id"]},
        ),
        (
            "/wit-mappings",
            {
                "source_name": "Y",
                "canonical_type": "Y",
                "hierarchy_id": world.a.ids["hierarchy_id"],
                "integration_id": b["integration_id"],
            },
        ),
        ("/status-mappings", {"source_name": "X", "workflow_id": b["step_id"]}),
        (
            "/workflows",
            {"step_name": "X", "category": "in_progress", "integration_id": b["integration_id"]},
        ),
        (
            "/custom-fields",
            {
                "integration_id": b["integration_id"],
                "slot": "custom_01",
                "field_external_id": "customfield_10016",
            },
        ),
        (f"/wit-hierarchies/{world.a.ids['hierarchy_id']}/delete", {"move_to": b["hierarchy_id"]}),
    ]
    a_before = snapshot(pg_engine, world.a.id)
    for path, form in cases:
        response = admin.post(path, data=form, headers=HX)
        assert response.status_code in (404, 422), (path, response.status_code, response.text)
        assert not _leaks(response.text)
    assert snapshot(pg_engine, world.a.id) == a_before


def test_the_live_stream_refuses_another_tenants_job(world: World, client_factory) -> None:
    for role in ROLES:
        client = client_factory(world.a.users[role])
        response = client.get(f"/jobs/events?job={world.b.ids['job_id']}")
        assert response.status_code == 404, role
        assert not _leaks(response.text)
