"""Databases made for one test and removed after it, for tests that must start from nothing
(migrations from empty, the CLI on a new installation) rather than from the shared schema."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from tests.conftest import ADMIN_URL


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """The URL of an empty PostgreSQL database, dropped (connections and all) on exit."""
    name = f"pulse_fresh_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
