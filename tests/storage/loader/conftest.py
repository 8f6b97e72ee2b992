"""A fresh tenant world per test, on both dialects (PostgreSQL marked `integration`)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from .world import World


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine)
