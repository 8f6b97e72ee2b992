"""Users and API tokens (admin only)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.schema import User
from tests.web.conftest import HX, ClientFactory, World

pytestmark = pytest.mark.integration


def test_only_admins_see_users(world: World, client_factory: ClientFactory) -> None:
    for role, status in (("admin", 200), ("user", 403), ("viewer", 403)):
        client = client_factory(world.a.users[role])
        assert client.get("/users").status_code == status, role
        assert client.get("/api-tokens").status_code == status, role
    admin: Any = client_factory(world.a.users["admin"])
    emails = {u.email for u in admin.get("/users").context["rows"]}
    assert emails == set(world.a.emails.values())


def test_create_a_user_with_field_errors_first(world: World, admin, pg_engine) -> None:
    bad = admin.post(
        "/users", data={"email": "nope", "password": "short", "role": "owner"}, headers=HX
    )
    assert bad.status_code == 422
    assert set(bad.context["errors"]) == {"email", "password", "role"}
    assert "short" not in bad.text  # the password is never echoed
    taken = admin.post(
        "/users",
        data={"email": world.b.emails["viewer"], "password": "long enough pass", "role": "viewer"},
        headers=HX,
    )
    assert taken.status_code == 422
    assert "already exists" in taken.context["errors"]["email"]
    good = admin.post(
        "/users",
        data={"email": "New@Alpha.example", "password": "long enough pass", "role": "user"},
        headers=HX,
    )
    assert good.status_code == 204
    with Session(pg_engine) as session:
        user = session.scalars(select(User).where(User.email == "new@alpha.example")).one()
        assert (user.tenant_id, user.role) == (world.a.id, "user")


def test_role_change_and_deactivation(world: World, admin, client_factory: ClientFactory) -> None:
    target = world.a.users["viewer"]
    changed = admin.post(f"/users/{target}/role", data={"role": "user"}, headers=HX)
    assert changed.status_code == 200
    assert 'value="user" selected' in changed.text
    assert admin.post(f"/users/{target}/role", data={"role": "root"}, headers=HX).status_code == 422
    me = world.a.users["admin"]
    assert admin.post(f"/users/{me}/role", data={"role": "viewer"}, headers=HX).status_code == 409
    assert admin.post(f"/users/{me}/deactivate", headers=HX).status_code == 409
    off = admin.post(f"/users/{target}/deactivate", headers=HX)
    assert off.status_code == 200
    assert "deactivated" in off.text
    on = admin.post(f"/users/{target}/activate", headers=HX)
    assert on.status_code == 200
    assert '<span class="badge ok">active</span>' in on.text


def test_api_tokens_are_shown_once_and_revocable(
    world: World, admin, client_factory: ClientFactory
) -> None:
    created = admin.post("/api-tokens", data={"name": "ci", "role": "user"}, headers=HX)
    assert created.status_code == 200
    token = created.context["created"]["token"]
    assert token.startswith("pulse_")
    assert token in created.text
    listed = admin.get("/api-tokens")
    assert token not in listed.text
    assert "ci" in listed.text
    client = client_factory()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/jobs", headers=auth).status_code == 200
    token_id = next(t.id for t in listed.context["rows"] if t.name == "ci")
    assert admin.post(f"/api-tokens/{token_id}/revoke", headers=HX).status_code == 200
    assert client.get("/api/v1/jobs", headers=auth).status_code == 401
    empty = admin.post("/api-tokens", data={"name": "", "role": "boss"}, headers=HX)
    assert empty.status_code == 422
    assert set(empty.context["errors"]) == {"name", "role"}
