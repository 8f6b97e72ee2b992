"""Shared fixtures: a throwaway PostgreSQL database per test run, migrated once, emptied between
tests; SQLite engines for the embedded mode. A missing service fails the test, never skips it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text

from storage.db import make_engine
from storage.migrate import upgrade
from storage.schema import Base

ADMIN_URL = os.environ.get("PULSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"


def _server_url(database: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + database


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A database created for this run and dropped after it."""
    name = f"pulse_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}", pytrace=False)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield _server_url(name)
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated_pg(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _truncate_all(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def pg_engine(migrated_pg: Engine) -> Engine:
    """The run's PostgreSQL database at head, empty at the start of each test."""
    _truncate_all(migrated_pg)
    return migrated_pg


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'pulse.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def any_engine(request: pytest.FixtureRequest) -> Engine:
    """Runs a test on both dialects."""
    fixture = "pg_engine" if request.param == "postgresql" else "sqlite_engine"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


RABBIT_HOST = os.environ.get("PULSE_TEST_RABBIT_HOST", "127.0.0.1:5672")


def rabbitmqctl(*args: str) -> None:
    import subprocess

    result = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}", pytrace=False)


@contextmanager
def throwaway_vhost(prefix: str) -> Iterator[str]:
    """A RabbitMQ virtual host, deleted afterwards; yields its AMQP URL."""
    vhost = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@{RABBIT_HOST}/{vhost}"
    finally:
        rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(scope="session")
def rabbit_url() -> Iterator[str]:
    """A RabbitMQ virtual host created for this run and deleted after it, so queue arguments
    and leftovers never clash between runs."""
    import pika
    from pika.exceptions import AMQPError

    with throwaway_vhost("pulse_test") as url:
        try:
            pika.BlockingConnection(pika.URLParameters(url)).close()
        except AMQPError as exc:
            pytest.fail(f"RabbitMQ is not reachable at {RABBIT_HOST}: {exc!r}", pytrace=False)
        yield url
