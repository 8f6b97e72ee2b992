"""The demo's pipeline on embedded defaults (SQLite, in-process stages, Qdrant local mode,
the real local embedding model), end to end against the simulator: what `pulse demo
--no-serve` does, in a new state directory, then again on the same one."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pulse.demo import ADMIN_EMAIL, DEMO_TENANT, Dataset, DemoOptions, run_demo
from pulse.errors import ConfigurationError
from storage.repositories import jobs, tenants, users
from tests.demo.env import (
    ISSUES,
    PRS,
    SCALE,
    counted,
    demo_database,
    embedded_settings,
    run_state,
)

pytestmark = pytest.mark.slow

OPTIONS = DemoOptions(dataset=Dataset(scale=SCALE, seed=3), serve=False, simulator_port=0)


def _tenant_id(database_url: str) -> int:
    with demo_database(database_url) as session:
        tenant = tenants.find_tenant(session, DEMO_TENANT)
        assert tenant is not None
        return tenant.id


def _login_works(database_url: str, password: str) -> bool:
    with demo_database(database_url) as session:
        return users.password_matches(users.login_candidate(session, ADMIN_EMAIL), password)


def _leave_a_run_queued(database_url: str, tenant_id: int) -> int:
    """What a demo interrupted before its extract began leaves behind."""
    with demo_database(database_url, write=True) as session:
        job = jobs.list_jobs(session, tenant_id)[0]
        run = jobs.start_run(session, tenant_id, job.id, kind="full")
        assert run is not None
        return run.id


def test_demo_loads_what_the_simulator_holds_and_runs_again(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path / "state")
    out = io.StringIO()

    first = run_demo(settings, OPTIONS, out=out)

    assert first.problems() == []
    assert first.ok
    assert not first.tenant_reused
    assert first.mode == "embedded"
    expected = {
        "work_items": ISSUES,
        "pull_requests": PRS,
        "vector_points": ISSUES + PRS,
        "qdrant_points": ISSUES + PRS,
    }
    assert first.simulator == expected
    assert first.loaded == expected
    tenant_id = _tenant_id(settings.database_url)
    assert counted(settings, tenant_id) == expected
    assert [(r.integration, r.state) for r in first.runs] == [
        ("jira", "succeeded"),
        ("github", "succeeded"),
    ]
    jira, github = first.runs
    assert (jira.loaded, jira.vectorized) == (ISSUES, ISSUES)
    assert (github.loaded, github.vectorized) == (PRS, PRS)
    assert jira.extracted == jira.transformed > ISSUES  # issues plus the Jira catalog
    log = out.getvalue()
    password = log.split(f"admin login: {ADMIN_EMAIL} / ", 1)[1].split()[0]
    assert _login_works(settings.database_url, password)

    leftover = _leave_a_run_queued(settings.database_url, tenant_id)
    second = run_demo(settings, OPTIONS, out=io.StringIO())

    assert second.ok, second.problems()
    assert second.tenant_reused
    assert second.loaded == expected
    assert counted(settings, tenant_id) == expected
    assert run_state(settings.database_url, leftover) == "cancelled"
    assert {r.id for r in second.runs}.isdisjoint({r.id for r in first.runs})
    assert not _login_works(settings.database_url, password)  # a fresh password each demo


def test_an_existing_demo_tenant_refuses_another_dataset(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path / "state")
    small = DemoOptions(
        dataset=Dataset(scale="issues=5,prs=2,projects=1,repos=1,histories=3", seed=1),
        serve=False,
        simulator_port=0,
    )
    assert run_demo(settings, small, out=io.StringIO()).ok

    with pytest.raises(ConfigurationError, match=r"loaded from --scale 'issues=5,prs=2"):
        run_demo(settings, OPTIONS, out=io.StringIO())


def test_a_tenant_holding_more_than_the_simulator_is_reported(tmp_path: Path) -> None:
    """A database kept while the state directory went (its dataset record with it): the
    counts no longer match, and the report says which."""
    settings = embedded_settings(tmp_path / "state")
    bigger = DemoOptions(
        dataset=Dataset(scale="issues=8,prs=3,projects=1,repos=1,histories=3", seed=1),
        serve=False,
        simulator_port=0,
    )
    assert run_demo(settings, bigger, out=io.StringIO()).ok
    (tmp_path / "state" / "demo-dataset.json").unlink()
    smaller = DemoOptions(
        dataset=Dataset(scale="issues=5,prs=3,projects=1,repos=1,histories=3", seed=1),
        serve=False,
        simulator_port=0,
    )

    report = run_demo(settings, smaller, out=io.StringIO())

    assert not report.ok
    assert "work_items: loaded 8, the simulator holds 5" in report.problems()


def test_rabbitmq_needs_postgresql(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path, rabbitmq_url="amqp://guest:guest@127.0.0.1:5672/%2F")
    with pytest.raises(ConfigurationError, match="RABBITMQ_URL is set but DATABASE_URL is SQLite"):
        run_demo(settings, OPTIONS, out=io.StringIO())
