"""CSRF: every unsafe route of the app refuses a request without the signed token, with
another session's token, from another site (Sec-Fetch-Site) and from another origin — before
any handler runs, so nothing changes. Routes are enumerated from the app."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette

from tests.web.conftest import HX, ClientFactory, World
from tests.web.routes import Endpoint, endpoints, snapshot

pytestmark = pytest.mark.integration


def _unsafe(app: Starlette) -> list[Endpoint]:
    return [e for e in endpoints(app) if e.method not in ("GET", "HEAD", "OPTIONS")]


def test_every_unsafe_route_refuses_forged_requests(
    app: Starlette, world: World, client_factory: ClientFactory, pg_engine: Engine
) -> None:
    client = client_factory(world.a.users["admin"])
    token = client.headers["X-CSRF-Token"]
    other_token = client_factory(world.b.users["admin"]).headers["X-CSRF-Token"]
    assert other_token != token
    before = snapshot(pg_engine, world.a.id)
    unsafe = _unsafe(app)
    assert len(unsafe) > 30
    forgeries = {
        "no token": {"X-CSRF-Token": ""},
        "another session's token": {"X-CSRF-Token": other_token},
        "cross-site": {"Sec-Fetch-Site": "cross-site"},
        "same-site sibling": {"Sec-Fetch-Site": "same-site"},
        "foreign origin": {"Origin": "https://evil.example"},
    }
    problems = []
    for endpoint in unsafe:
        url = endpoint.url(world.a) if endpoint.has_ids else endpoint.path
        for name, headers in forgeries.items():
            if endpoint.api:  # API calls carry a bearer token; cookies alone are refused too
                if name in ("no token", "another session's token"):
                    sent = {**HX, **headers}
                else:
                    sent = {**headers, "Authorization": f"Bearer {world.a.tokens['admin']}"}
            else:
                sent = {**HX, **headers}
            response = client.request(endpoint.method, url, headers=sent, data={"name": "x"})
            if response.status_code != 403 or "CSRF" not in response.text:
                problems.append(f"{endpoint.method} {url} ({name}): {response.status_code}")
    assert not problems, "\n".join(problems)
    assert snapshot(pg_engine, world.a.id) == before


def test_a_genuine_request_passes_the_check(world: World, admin) -> None:
    job_id = world.a.ids["job_id"]
    form = {"schedule_interval_seconds": "7200", "retry_interval_seconds": "600"}
    response = admin.post(f"/jobs/{job_id}/schedule", data=form, headers=HX)
    assert response.status_code == 200
    same_site = admin.post(
        f"/jobs/{job_id}/schedule", data=form, headers={**HX, "Sec-Fetch-Site": "same-origin"}
    )
    assert same_site.status_code == 200


def test_login_needs_the_login_forms_token(client_factory: ClientFactory, world: World) -> None:
    client = client_factory()
    form = {"email": world.a.emails["admin"], "password": "correct horse battery staple"}
    assert client.post("/login", data=form).status_code == 403  # no nonce cookie, no token
    client.get("/login")
    assert client.post("/login", data=form).status_code == 403  # cookie, but no token
