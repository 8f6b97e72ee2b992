"""The extract runner against the simulator, on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from connectors.extract.runner import Outcome
from connectors.simulator import SimulatorServer, config_for
from storage.db import session_factory
from tests.connectors.extract.env import (
    extract,
    make_tenant,
    raw_count,
    raw_ids,
    run_row,
    runner,
    start_run,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(config_for("issues=120,prs=40,repos=3,histories=150", seed=7)) as server:
        yield server


def _endpoint_total(stats: dict, prefix: str) -> int:
    return sum(n for name, n in stats["by_endpoint"].items() if name.startswith(prefix))


def test_full_run_stores_exactly_the_sources_items(pg_engine: Engine, sim: SimulatorServer) -> None:
    tenant = make_tenant(session_factory(pg_engine), sim, "acme")
    factory = session_factory(pg_engine)
    for integration_id in (tenant.jira_id, tenant.github_id):
        run_id = start_run(factory, tenant.id, integration_id)
        result = runner(pg_engine).run(run_id)
        assert result.outcome is Outcome.EXTRACTED, result.detail
        run = run_row(pg_engine, run_id)
        assert run.stage == "transform"
        assert run.extracted == raw_count(pg_engine, job_run_id=run_id)

    jira_truth = sim.truth("jira", "acme")
    assert raw_ids(pg_engine, tenant.jira_id, "jira.issue") == {
        i["id"] for i in jira_truth["issues"]
    }
    github_truth = sim.truth("github", "acme")
    assert raw_ids(pg_engine, tenant.github_id, "github.pull_request") == {
        p["id"] for p in github_truth["pull_requests"]
    }
    assert (
        len(raw_ids(pg_engine, tenant.jira_id, "jira.project")) == jira_truth["counts"]["projects"]
    )


def test_incremental_run_without_changes_costs_one_request_per_scope(
    pg_engine: Engine, sim: SimulatorServer
) -> None:
    factory = session_factory(pg_engine)
    tenant = make_tenant(factory, sim, "globex")
    for integration_id in (tenant.jira_id, tenant.github_id):
        extract(pg_engine, tenant.id, integration_id)
    stored_before = raw_count(pg_engine, tenant_id=tenant.id)

    sim.reset_stats()
    extract(pg_engine, tenant.id, tenant.jira_id)
    jira_requests = sim.stats()["by_site"].get("globex", 0)
    assert jira_requests == 1, sim.stats()  # the issue search; the catalog is fresh

    sim.reset_stats()
    extract(pg_engine, tenant.id, tenant.github_id)
    repos = len(raw_ids(pg_engine, tenant.github_id, "github.repository"))
    # One listing of the organisation, then one page per repository.
    assert sim.stats()["by_site"].get("globex", 0) <= 1 + repos, sim.stats()
    assert raw_count(pg_engine, tenant_id=tenant.id) == stored_before  # nothing new stored


def test_touched_issues_are_picked_up_incrementally(
    pg_engine: Engine, sim: SimulatorServer
) -> None:
    factory = session_factory(pg_engine)
    tenant = make_tenant(factory, sim, "acme")
    extract(pg_engine, tenant.id, tenant.jira_id)
    touched = sim.touch("jira", "acme", count=3)
    run_id = start_run(factory, tenant.id, tenant.jira_id)
    assert runner(pg_engine).run(run_id).outcome is Outcome.EXTRACTED
    stored = raw_ids_for_run(pg_engine, run_id)
    touched_ids = {str(i) for i in touched}
    assert touched_ids
    assert touched_ids <= stored


def raw_ids_for_run(engine: Engine, run_id: int) -> set[str]:
    from sqlalchemy import select

    from storage.schema import RawRecord

    with session_factory(engine)() as session:
        return set(
            session.scalars(select(RawRecord.external_id).where(RawRecord.job_run_id == run_id))
        )


def test_jira_server_deployment_extracts_the_same_items(
    pg_engine: Engine, sim: SimulatorServer
) -> None:
    factory = session_factory(pg_engine)
    tenant = make_tenant(factory, sim, "acme", jira_settings={"deployment": "server"})
    sim.reset_stats()
    extract(pg_engine, tenant.id, tenant.jira_id)
    assert raw_ids(pg_engine, tenant.jira_id, "jira.issue") == {
        i["id"] for i in sim.truth("jira", "acme")["issues"]
    }
    used = sim.stats()["by_endpoint"]
    assert used.get("jira.search_v2", 0) > 0
    assert "jira.search_jql" not in used


def test_a_project_added_later_is_backfilled_while_the_rest_stays_incremental(
    pg_engine: Engine, sim: SimulatorServer
) -> None:
    from storage.db import transaction
    from storage.schema import Integration

    factory = session_factory(pg_engine)
    tenant = make_tenant(factory, sim, "globex")
    issues = sim.truth("jira", "globex")["issues"]
    projects = sorted({i["key"].split("-")[0] for i in issues})
    with transaction(factory) as session:
        integration = session.get(Integration, tenant.jira_id)
        assert integration is not None
        integration.settings = {**integration.settings, "projects": projects[:1]}
    extract(pg_engine, tenant.id, tenant.jira_id)
    with transaction(factory) as session:
        integration = session.get(Integration, tenant.jira_id)
        assert integration is not None
        integration.settings = {**integration.settings, "projects": projects}
    extract(pg_engine, tenant.id, tenant.jira_id)
    # The simulator's issues were all updated long before either run: only a backfill of the
    # new project scope can have fetched the second project's.
    assert raw_ids(pg_engine, tenant.jira_id, "jira.issue") == {i["id"] for i in issues}


def test_a_chosen_start_date_bounds_the_first_backfill(
    pg_engine: Engine, sim: SimulatorServer
) -> None:
    from datetime import timedelta

    from connectors.records import parse_timestamp
    from storage.db import transaction
    from storage.schema import Job

    factory = session_factory(pg_engine)
    tenant = make_tenant(factory, sim, "acme")
    issues = sim.truth("jira", "acme")["issues"]
    updated = sorted(parse_timestamp(i["updated"]) for i in issues)
    start = updated[len(updated) // 2]
    with transaction(factory) as session:
        job = session.query(Job).filter_by(integration_id=tenant.jira_id).one()
        job.backfill_from = start
    extract(pg_engine, tenant.id, tenant.jira_id)
    overlap = timedelta(seconds=300)
    expected = {i["id"] for i in issues if parse_timestamp(i["updated"]) >= start - overlap}
    assert raw_ids(pg_engine, tenant.jira_id, "jira.issue") == expected
    assert 0 < len(expected) < len(issues)


@pytest.mark.parametrize(
    ("settings", "credentials", "expected"),
    [
        ({"projects": ["not a key"]}, None, "setting 'projects'"),
        (None, {"email": "sync@example.com"}, "needs an email and an API token"),
    ],
)
def test_a_misconfigured_integration_fails_its_run_with_a_clear_error(
    pg_engine: Engine,
    sim: SimulatorServer,
    settings: dict | None,
    credentials: dict | None,
    expected: str,
) -> None:
    from storage.db import transaction
    from storage.schema import Integration, Job
    from tests.connectors.extract.env import CIPHER

    factory = session_factory(pg_engine)
    tenant = make_tenant(factory, sim, "acme")
    with transaction(factory) as session:
        integration = session.get(Integration, tenant.jira_id)
        assert integration is not None
        if settings is not None:
            integration.settings = {**integration.settings, **settings}
        if credentials is not None:
            integration.credentials_encrypted = CIPHER.encrypt(credentials)
    sim.reset_stats()
    run_id = start_run(factory, tenant.id, tenant.jira_id)
    result = runner(pg_engine).run(run_id)
    assert result.outcome is Outcome.FAILED
    assert expected in result.detail
    run = run_row(pg_engine, run_id)
    assert run.state == "failed"
    assert expected in (run.error or "")
    assert "sim-token" not in (run.error or "")  # a secret never reaches the message
    with session_factory(pg_engine)() as session:
        job = session.query(Job).filter_by(integration_id=tenant.jira_id).one()
        assert job.last_error == run.error
    assert sim.stats()["total"] == 0  # refused before any request


def test_cancel_stops_the_run_between_pages(pg_engine: Engine) -> None:
    import threading
    import time

    from sqlalchemy import update

    from storage.db import transaction
    from storage.schema import JobRun, utcnow

    config = config_for("issues=300,prs=5,repos=1,histories=20", seed=4, latency_ms=100)
    with SimulatorServer(config) as slow:
        factory = session_factory(pg_engine)
        tenant = make_tenant(factory, slow, "acme", jira_settings={"page_size": 10})
        run_id = start_run(factory, tenant.id, tenant.jira_id)
        outcome: list = []
        worker = threading.Thread(target=lambda: outcome.append(runner(pg_engine).run(run_id)))
        worker.start()
        time.sleep(1.0)  # a few pages in
        with transaction(factory) as session:
            session.execute(
                update(JobRun).where(JobRun.id == run_id).values(cancel_requested_at=utcnow())
            )
        asked = time.monotonic()
        worker.join(30)
        stopped_after = time.monotonic() - asked
        searches = slow.stats()["by_endpoint"].get("jira.search_jql", 0)
        requests = slow.stats()["total"]
    assert outcome[0].outcome is Outcome.CANCELLED
    assert stopped_after < 5  # at most the page in flight finishes
    assert requests > 0
    assert searches < 30  # 30 search pages would be the whole run
    run = run_row(pg_engine, run_id)
    assert run.state == "cancelled"
    assert run.extracted == raw_count(pg_engine, job_run_id=run_id) > 0  # committed pages stay
