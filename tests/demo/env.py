"""Settings and independent counts for the demo tests."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from dataflows.vectorize import open_store
from pulse.settings import Settings
from storage.db import make_engine, session_factory
from storage.schema import PullRequest, VectorPoint, WorkItem

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


def counted(settings: Settings, tenant_id: int) -> dict[str, int]:
    """The tenant's rows and Qdrant points, counted here rather than by the demo's code."""
    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
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
    finally:
        engine.dispose()
    store = open_store(settings)
    try:
        rows["qdrant_points"] = sum(store.count(c, tenant_id=tenant_id) for c in collections)
    finally:
        store.close()
    return rows
