"""Deletion reconciliation: a reconcile run's id sweep marks facts deleted at the source."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from connectors.simulator import SimulatorServer, config_for
from storage.db import session_factory, transaction
from storage.schema import PullRequest, WorkItem
from storage.upsert import upsert_rows
from tests.connectors.extract.env import extract, make_tenant

pytestmark = pytest.mark.integration


def _load_facts(
    engine: Engine, tenant_id: int, jira_id: int, github_id: int, sim: SimulatorServer
) -> None:
    """Stands in for the load stage: one fact row per source item."""
    issues = sim.truth("jira", "acme")["issues"]
    prs = sim.truth("github", "acme")["pull_requests"]
    with transaction(session_factory(engine)) as session:
        conn = session.connection()
        upsert_rows(
            conn,
            WorkItem.__table__,
            [
                {
                    "tenant_id": tenant_id,
                    "integration_id": jira_id,
                    "external_id": i["id"],
                    "key": i["key"],
                    "version": 1,
                }
                for i in issues
            ],
            ["tenant_id", "integration_id", "external_id"],
        )
        upsert_rows(
            conn,
            PullRequest.__table__,
            [
                {
                    "tenant_id": tenant_id,
                    "integration_id": github_id,
                    "external_id": p["id"],
                    "repository_full_name": p["repository"],
                    "number": p["number"],
                    "state": "open",
                    "version": 1,
                }
                for p in prs
            ],
            ["tenant_id", "integration_id", "external_id"],
        )


def test_reconcile_marks_exactly_the_deleted_items(pg_engine: Engine) -> None:
    with SimulatorServer(config_for("issues=80,prs=20,repos=2,histories=20", seed=9)) as sim:
        tenant = make_tenant(session_factory(pg_engine), sim, "acme")
        _load_facts(pg_engine, tenant.id, tenant.jira_id, tenant.github_id, sim)
        before = {i["id"] for i in sim.truth("jira", "acme")["issues"]}
        asked = set(sim.delete("jira", "acme", count=3))
        # Deleting an issue deletes its sub-tasks too: the source decides what is gone.
        gone_issues = before - {i["id"] for i in sim.truth("jira", "acme")["issues"]}
        gone_prs = set(sim.delete("github", "acme", count=2))
        extract(pg_engine, tenant.id, tenant.jira_id, kind="reconcile")
        extract(pg_engine, tenant.id, tenant.github_id, kind="reconcile")
    with session_factory(pg_engine)() as session:
        deleted_items = set(
            session.scalars(select(WorkItem.external_id).where(WorkItem.deleted_at.is_not(None)))
        )
        deleted_prs = set(
            session.scalars(
                select(PullRequest.external_id).where(PullRequest.deleted_at.is_not(None))
            )
        )
    assert asked <= gone_issues
    assert deleted_items == gone_issues
    assert deleted_prs == gone_prs
