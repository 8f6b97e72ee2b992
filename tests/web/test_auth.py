"""Logging in and out, the session cookie, and sessions that end at once (logout, deactivation,
expiry) or slide on activity; roles read from the database on every request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from starlette.applications import Starlette

from storage.schema import Session as WebSession
from storage.schema import User, utcnow
from tests.web.conftest import HX, ClientFactory, World, csrf_meta
from tests.web.world import PASSWORD

pytestmark = pytest.mark.integration


def _login(client, email: str, password: str = PASSWORD, **extra: str):
    page = client.get("/login")
    assert page.status_code == 200
    token = csrf_meta(page.text)
    return client.post(
        "/login",
        data={"email": email, "password": password, **extra},
        headers={"X-CSRF-Token": token},
        follow_redirects=False,
    )


def test_login_sets_a_secure_httponly_session_cookie(
    client_factory: ClientFactory, world: World
) -> None:
    client = client_factory()
    response = _login(client, world.a.emails["user"])
    assert response.status_code == 303
    assert response.headers["location"] == "/jobs"
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "pulse_session=" in v
    )
    for flag in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"):
        assert flag.lower() in cookie.lower(), cookie
    page = client.get("/jobs")
    assert page.status_code == 200
    assert "Jira ALPHA" in page.text
    assert world.a.emails["user"].split("@")[0].title() in page.text  # "User ALPHA"


def test_htmx_login_redirects_with_a_header(client_factory: ClientFactory, world: World) -> None:
    client = client_factory()
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"email": world.a.emails["admin"], "password": PASSWORD, "next": "/users"},
        headers={**HX, "X-CSRF-Token": csrf_meta(page.text)},
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/users"


@pytest.mark.parametrize("password", ["wrong password here", ""])
def test_a_wrong_password_answers_422_without_saying_which_part(
    client_factory: ClientFactory, world: World, password: str
) -> None:
    client = client_factory()
    response = _login(client, world.a.emails["admin"], password)
    assert response.status_code == 422
    assert "pulse_session" not in response.headers.get("set-cookie", "")
    assert client.get("/jobs", follow_redirects=False).status_code == 303


def test_an_unknown_email_or_a_deactivated_user_gets_the_same_answer(
    client_factory: ClientFactory, world: World, pg_engine: Engine
) -> None:
    email = world.a.emails["user"]
    with pg_engine.begin() as conn:
        conn.execute(update(User).where(User.email == email).values(active=False))
    answers = [
        _login(client_factory(), address, PASSWORD)  # the right password, for the deactivated
        for address in (email, "nobody@example.com")
    ]
    for response in answers:
        assert response.status_code == 422
        assert "Email or password is wrong, or the account is deactivated." in response.text
        assert "pulse_session" not in response.headers.get("set-cookie", "")


def test_next_never_leaves_the_site(client_factory: ClientFactory, world: World) -> None:
    client = client_factory()
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = _login(client, world.a.emails["admin"], next=target)
        assert response.headers["location"] == "/jobs", target


def test_pages_send_anonymous_users_to_login(client_factory: ClientFactory) -> None:
    client = client_factory()
    page = client.get("/data/work-items?q=x", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fdata%2Fwork-items%3Fq%3Dx"
    fragment = client.get("/jobs", headers=HX)
    assert fragment.status_code == 401
    assert fragment.headers["HX-Redirect"].startswith("/login")
    api = client.get("/api/v1/jobs")
    assert api.status_code == 401
    assert api.json() == {"error": "a valid bearer token is required"}


def test_logout_ends_the_session_at_once(
    app: Starlette, world: World, client_factory: ClientFactory
) -> None:
    client = client_factory(world.a.users["admin"])
    cookie = client.cookies.get("pulse_session")
    response = client.post("/logout", headers=HX)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/login"
    replay = client_factory()
    assert cookie is not None
    replay.cookies.set("pulse_session", cookie)  # the old cookie, kept by an attacker
    assert replay.get("/jobs", follow_redirects=False).status_code == 303


def test_deactivation_ends_every_session_of_the_user(
    world: World, client_factory: ClientFactory
) -> None:
    admin = client_factory(world.a.users["admin"])
    victim = client_factory(world.a.users["user"])
    assert victim.get("/jobs").status_code == 200
    response = admin.post(f"/users/{world.a.users['user']}/deactivate", headers=HX)
    assert response.status_code == 200
    assert "deactivated" in response.text
    assert victim.get("/jobs", follow_redirects=False).status_code == 303
    assert client_factory().post("/login").status_code == 403  # sanity: CSRF still applies


def test_a_role_change_applies_on_the_next_request(
    world: World, client_factory: ClientFactory, pg_engine
) -> None:
    viewer = client_factory(world.a.users["viewer"])
    assert viewer.get("/users").status_code == 403
    with Session(pg_engine) as session, session.begin():
        session.execute(update(User).where(User.id == world.a.users["viewer"]).values(role="admin"))
    assert viewer.get("/users").status_code == 200


def test_an_expired_session_is_refused(
    world: World, client_factory: ClientFactory, pg_engine
) -> None:
    client = client_factory(world.a.users["admin"])
    with Session(pg_engine) as session, session.begin():
        session.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get("/jobs", follow_redirects=False).status_code == 303


def test_a_tampered_cookie_is_refused(world: World, client_factory: ClientFactory) -> None:
    client = client_factory(world.a.users["admin"])
    cookie = client.cookies.get("pulse_session")
    assert cookie
    header, payload, signature = cookie.split(".")
    client.cookies.set("pulse_session", f"{header}.{payload}.{signature[::-1]}")
    assert client.get("/jobs", follow_redirects=False).status_code == 303


def test_activity_slides_the_session(
    app: Starlette, world: World, client_factory: ClientFactory, pg_engine
) -> None:
    client = client_factory(world.a.users["admin"])
    with Session(pg_engine) as session:
        before = session.scalar(select(WebSession.expires_at))
    fresh = client.get("/jobs")
    assert "pulse_session" not in fresh.headers.get("set-cookie", "")  # nothing to refresh yet
    # A cookie issued two minutes ago is refreshed: a new JWT and a later expiry on the row.
    web = app.state.web
    with Session(pg_engine) as session:
        row = session.scalars(select(WebSession)).one()
        issued = utcnow() - timedelta(minutes=2)
        client.cookies.set(
            "pulse_session", web.codec.issue(row.id, row.user_id, row.tenant_id, issued)
        )
    refreshed = client.get("/jobs")
    assert "pulse_session=" in refreshed.headers.get("set-cookie", "")
    with Session(pg_engine) as session:
        after = session.scalar(select(WebSession.expires_at))
    assert before is not None
    assert after is not None
    assert after > before


def test_api_tokens_authenticate_with_the_lower_role(
    world: World, client_factory: ClientFactory, pg_engine
) -> None:
    client = client_factory()
    admin_token = {"Authorization": f"Bearer {world.a.tokens['admin']}"}
    assert client.get("/api/v1/jobs", headers=admin_token).status_code == 200
    with Session(pg_engine) as session, session.begin():  # the token's owner is demoted
        session.execute(update(User).where(User.id == world.a.users["admin"]).values(role="viewer"))
    run = client.post(f"/api/v1/jobs/{world.a.ids['job_id']}/run", headers=admin_token)
    assert run.status_code == 403
    bad = client.get("/api/v1/jobs", headers={"Authorization": "Bearer pulse_nonsense"})
    assert bad.status_code == 401


def test_logging_in_again_over_a_revoked_sessions_cookie(
    world: World, client_factory: ClientFactory, pg_engine
) -> None:
    client = client_factory(world.a.users["user"])
    with Session(pg_engine) as session, session.begin():
        session.execute(update(WebSession).values(revoked_at=utcnow()))
    page = client.get("/login")
    assert 'pulse_session=""' in page.headers.get("set-cookie", "")  # the stale cookie goes
    client.cookies.delete("pulse_session")
    stale = client_factory(world.a.users["user"]).cookies.get("pulse_session")
    client.cookies.set("pulse_session", stale or "")  # a browser that kept an old cookie
    with Session(pg_engine) as session, session.begin():
        session.execute(update(WebSession).values(revoked_at=utcnow()))
    response = client.post(
        "/login",
        data={"email": world.a.emails["user"], "password": PASSWORD},
        headers={"X-CSRF-Token": csrf_meta(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_a_signed_in_user_skips_the_login_form(world: World, admin) -> None:
    response = admin.get("/login?next=/users", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/users"
    assert admin.get("/", follow_redirects=False).headers["location"] == "/jobs"
