"""The login rate limit: five failed logins of one email from one address within five minutes,
and that pair is refused with 429 and Retry-After until the failures age out; other addresses
and other emails are unaffected, a success clears the count, and the count is shared by every
web worker process (it lives in the database, PostgreSQL or SQLite)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select, update
from starlette.applications import Starlette
from starlette.testclient import TestClient

from pulse.settings import Settings
from storage.db import session_factory
from storage.repositories.login_failures import LoginKey
from storage.schema import LoginFailure, utcnow
from tests.web.conftest import BASE_URL, HX, ORIGIN, ClientFactory, World, csrf_meta
from tests.web.world import PASSWORD
from web import WebConfig, create_app
from web.login_limit import LoginLimit

pytestmark = pytest.mark.integration

WRONG = "not the password"


def _login(client: TestClient, email: str, password: str, **headers: str):
    token = csrf_meta(client.get("/login").text)
    return client.post(
        "/login",
        data={"email": email, "password": password},
        headers={"X-CSRF-Token": token, **headers},
        follow_redirects=False,
    )


def _fail(client: TestClient, email: str, times: int) -> None:
    for _ in range(times):
        assert _login(client, email, WRONG).status_code == 422


def test_the_sixth_attempt_after_five_failures_is_refused_with_retry_after(
    client_factory: ClientFactory, world: World
) -> None:
    email = world.a.emails["admin"]
    client = client_factory()
    _fail(client, email, 5)

    refused = _login(client, email, PASSWORD)  # even the right password waits
    assert refused.status_code == 429
    assert 290 <= int(refused.headers["retry-after"]) <= 300
    assert "Too many failed logins" in refused.text
    assert "Try again in 5 minutes" in refused.text
    assert "pulse_session" not in refused.headers.get("set-cookie", "")
    assert client.get("/jobs", follow_redirects=False).status_code == 303

    partial = _login(client, email, PASSWORD, **HX)  # htmx swaps the form with the message
    assert partial.status_code == 429
    assert "Too many failed logins" in partial.text

    # Another address, or another email from this address, is not held back.
    elsewhere = client_factory(client=("203.0.113.9", 40000))
    assert _login(elsewhere, email, PASSWORD).status_code == 303
    assert _login(client, world.a.emails["user"], PASSWORD).status_code == 303


def test_an_unknown_email_is_limited_like_a_known_one(client_factory: ClientFactory) -> None:
    client = client_factory()
    _fail(client, "nobody@example.com", 5)
    assert _login(client, "nobody@example.com", WRONG).status_code == 429  # no email probing


def test_failures_age_out_and_a_success_clears_them(
    client_factory: ClientFactory, world: World, pg_engine: Engine
) -> None:
    email = world.a.emails["viewer"]
    client = client_factory()
    _fail(client, email, 5)
    assert _login(client, email, PASSWORD).status_code == 429
    with pg_engine.begin() as conn:  # five and a half minutes later
        conn.execute(update(LoginFailure).values(failed_at=utcnow() - timedelta(seconds=330)))
    assert _login(client, email, PASSWORD).status_code == 303

    _fail(client_factory(), email, 4)
    assert _login(client_factory(), email, PASSWORD).status_code == 303  # clears the four
    _fail(client_factory(), email, 4)
    assert _login(client_factory(), email, PASSWORD).status_code == 303
    with pg_engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(LoginFailure)) == 0


def test_every_worker_process_counts_the_same_failures(
    settings: Settings, pg_engine: Engine, world: World
) -> None:
    # Two apps on one database stand for two `pulse web --workers` processes.
    apps: list[Starlette] = [
        create_app(settings, engine=pg_engine, config=WebConfig(), progress_consumer=False)
        for _ in range(2)
    ]
    email = world.b.emails["admin"]
    with (
        TestClient(apps[0], base_url=BASE_URL, headers=dict(ORIGIN)) as first,
        TestClient(apps[1], base_url=BASE_URL, headers=dict(ORIGIN)) as second,
    ):
        for n in range(5):
            _fail(first if n % 2 else second, email, 1)
        assert _login(first, email, PASSWORD).status_code == 429
        assert _login(second, email, PASSWORD).status_code == 429


def test_the_limit_counts_on_sqlite_as_on_postgresql(any_engine: Engine) -> None:
    limit = LoginLimit(max_failures=3, window=timedelta(minutes=1))
    factory = session_factory(any_engine)
    key = LoginKey.of("  Ann@Example.com ", "198.51.100.7")
    assert key.email == "ann@example.com"
    start = utcnow()
    with factory() as db, db.begin():
        for n in range(3):
            assert limit.retry_after(db, key, start + timedelta(seconds=n)) is None
            limit.failed(db, key, start + timedelta(seconds=n))
    with factory() as db:
        assert limit.retry_after(db, key, start + timedelta(seconds=10)) == 50
        assert limit.retry_after(db, LoginKey.of("ann@example.com", "198.51.100.8"), start) is None
        assert limit.retry_after(db, key, start + timedelta(seconds=60)) is None  # first aged out
    with factory() as db, db.begin():  # a failure much later purges the ones past the window
        limit.failed(db, LoginKey.of("bob@example.com", "x"), start + timedelta(minutes=5))
    with factory() as db:
        assert db.scalar(select(func.count()).select_from(LoginFailure)) == 1
