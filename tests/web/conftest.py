"""Fixtures for the web tests: the app on the run's PostgreSQL database, two populated
tenants, and clients signed in as any user of either tenant."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.testclient import TestClient

from pulse.settings import Settings
from storage.crypto import CredentialCipher
from storage.repositories import sessions
from storage.schema import User, utcnow
from tests.web.world import TenantWorld, populate
from web import create_app
from web.config import WebConfig

BASE_URL = "https://testserver"
ORIGIN = {"Origin": BASE_URL}
ENCRYPTION_KEY = Fernet.generate_key().decode()
JWT_SECRET = "test-jwt-secret-that-is-long-enough-0123456789"


@pytest.fixture(autouse=True)
def fast_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its cheapest for the tests (verification reads the parameters from the hash,
    so the product code is exercised as is)."""
    import storage.repositories.users as users_module

    monkeypatch.setattr(
        users_module, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def make_settings(database_url: str, state_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "rabbitmq_url": None,
        "encryption_key": ENCRYPTION_KEY,
        "jwt_secret": JWT_SECRET,
        "state_dir": state_dir,
        "qdrant_path": state_dir / "qdrant",
        "qdrant_url": None,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def empty_database(engine: Engine) -> None:
    """Delete every row. The web tests' data hangs off `tenants` by cascading foreign keys, so
    this is a few small DELETEs instead of a TRUNCATE of every table (seconds per test)."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM tenants"))
        for table in ("dead_letters", "rate_budgets", "worker_heartbeats", "login_failures"):
            conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def pg_engine(migrated_pg: Engine) -> Engine:
    """The run's PostgreSQL database, emptied at the start of each web test."""
    empty_database(migrated_pg)
    return migrated_pg


@pytest.fixture
def settings(pg_engine: Engine, tmp_path: Path) -> Settings:
    return make_settings(pg_engine.url.render_as_string(hide_password=False), tmp_path)


@pytest.fixture
def app(settings: Settings, pg_engine: Engine) -> Starlette:
    return create_app(settings, engine=pg_engine, config=WebConfig(), progress_consumer=False)


@dataclass
class World:
    a: TenantWorld
    b: TenantWorld
    cipher: CredentialCipher


@pytest.fixture
def world(pg_engine: Engine) -> World:
    cipher = CredentialCipher(ENCRYPTION_KEY)
    with Session(pg_engine) as session, session.begin():
        a = populate(session, "ALPHA", cipher)
        b = populate(session, "BRAVO", cipher)
    return World(a, b, cipher)


def sign_in(app: Starlette, client: TestClient, user_id: int) -> str:
    """Give the client a live session of the user (as a login would) and its CSRF header;
    returns the session id."""
    web = app.state.web
    with web.factory() as db, db.begin():
        user = db.get(User, user_id)
        assert user is not None
        row = sessions.create_session(db, user.tenant_id, user.id, lifetime=web.config.session_idle)
        token = web.codec.issue(row.id, user.id, user.tenant_id, utcnow())
        session_id = row.id
    client.cookies.set("pulse_session", token)
    client.headers["X-CSRF-Token"] = web.codec.csrf_token(session_id)
    return session_id


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def client_factory(app: Starlette) -> Iterator[ClientFactory]:
    """`client_factory(user_id=None)`: a TestClient on https://testserver that sends a
    same-origin `Origin`, signed in as the user when one is given. Closed after the test."""
    made: list[TestClient] = []

    def make(user_id: int | None = None, **kwargs: object) -> TestClient:
        client = TestClient(app, base_url=BASE_URL, headers=dict(ORIGIN), **kwargs)  # type: ignore[arg-type]
        client.__enter__()
        made.append(client)
        if user_id is not None:
            sign_in(app, client, user_id)
        return client

    yield make
    for client in made:
        client.__exit__(None, None, None)


@pytest.fixture
def admin(world: World, client_factory: ClientFactory) -> TestClient:
    return client_factory(world.a.users["admin"])


@pytest.fixture
def viewer(world: World, client_factory: ClientFactory) -> TestClient:
    return client_factory(world.a.users["viewer"])


HX = {"HX-Request": "true"}


def csrf_meta(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]*)"', html)
    assert found, "the page has no csrf-token meta tag"
    return found.group(1)
