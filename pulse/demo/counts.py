"""What the demo loaded, counted from the database and Qdrant, and what the simulator holds."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from connectors.simulator import SimulatorServer
from dataflows.vectorize import open_store, vector_coverage
from pulse.settings import Settings
from storage import vectors
from storage.repositories import facts

# In the order the JSON line lists them.
ENTITIES = ("work_items", "pull_requests", "vector_points", "qdrant_points")


def simulator_counts(sim: SimulatorServer, site: str) -> dict[str, int]:
    """The simulator's ground truth: every issue and pull request is a fact, and every fact has
    text to embed, so each has one vector_points row and one Qdrant point."""
    issues = int(sim.truth("jira", site)["counts"]["issues"])
    prs = int(sim.truth("github", site)["counts"]["prs"])
    return {
        "work_items": issues,
        "pull_requests": prs,
        "vector_points": issues + prs,
        "qdrant_points": issues + prs,
    }


def loaded_counts(factory: sessionmaker[Session], tenant_id: int) -> dict[str, int]:
    """The tenant's facts and vector_points rows in the database."""
    with factory() as session:
        counts = facts.count_facts(session, tenant_id)
        counts["vector_points"] = sum(c.points for c in vectors.vector_counts(session, tenant_id))
    return counts


def qdrant_points(factory: sessionmaker[Session], settings: Settings, tenant_id: int) -> int:
    """The points Qdrant holds for the tenant, through a client of its own (in Qdrant local
    mode only when no other client has the directory open: it allows one at a time)."""
    store = open_store(settings)
    try:
        return sum(c.qdrant_points for c in vector_coverage(factory, store, tenant_id))
    finally:
        store.close()
