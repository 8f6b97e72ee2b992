"""Settings and independent counts for the demo tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dataflows.vectorize import open_store
from pulse.settings import Settings
from storage.db import make_engine, session_factory, transaction
from storage.schema import JobRun, PullRequest, VectorPoint, WorkItem

# Small enough for a test (the local model still embeds every fact), big enough to page.
SCALE = "issues=60,prs=20,projects=2,repos=2,histories=15"
ISSUES, PRS = 60, 20


def embedded_settings(state: Path, **overrides: object) -> Settings:
    """Embedded defaults under `state`, whatever the environment says."""
    values: dict[str, object] = {
        "database_url": f"sqlite:///{state / 'pulse.db'}",
        "rabbitmq_url": None,
        "qdrant_url": None,
        "qdrant_path": state / "qdrant",
        "state_dir": state,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@contextmanager
def demo_database(database_url: str, *, write: bool = False) -> Iterator[Session]:
    """A session on the demo's database (committed at the end when `write`), its own engine
    disposed after: the demo process or function under test owns the other connections."""
    engine = make_engine(database_url)
    try:
        factory = session_factory(engine)
        if write:
            with transaction(factory) as session:
                yield session
        else:
            with factory() as session:
                yield session
    finally:
        engine.dispose()


def run_state(database_url: str, run_id: int) -> str:
    with demo_database(database_url) as session:
        return str(session.scalar(select(JobRun.state).where(JobRun.id == run_id)))


def counted(settings: Settings, tenant_id: int) -> dict[str, int]:
    """The tenant's rows and Qdrant points, counted here rather than by the demo's code."""
    with demo_database(settings.database_url) as session:
        rows = {
            name: int(
                session.scalar(
                    select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
                )
                or 0
            )
            for name, model in (
                ("work_items", WorkItem),
                ("pull_requests", PullRequest),
                ("vector_points", VectorPoint),
            )
        }
        collections = set(
            session.scalars(
                select(VectorPoint.collection).where(VectorPoint.tenant_id == tenant_id)
            )
        )
    store = open_store(settings)
    try:
        rows["qdrant_points"] = sum(store.count(c, tenant_id=tenant_id) for c in collections)
    finally:
        store.close()
    return rows
