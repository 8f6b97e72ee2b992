"""The jobs page: cards with state and actions offered only where they apply, the actions
themselves (through the jobs service), the schedule form, run history, and the JSON API."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.schema import Job, JobRun
from tests.storage.statements import statements_sent
from tests.web.conftest import HX, ClientFactory, World

pytestmark = pytest.mark.integration


def _button(html: str, action: str) -> str:
    start = html.index(f'name="{action}"')
    return html[start : html.index(">", start)]


def test_the_home_page_shows_a_card_per_job(world: World, viewer) -> None:
    page = viewer.get("/jobs")
    assert page.status_code == 200
    assert page.headers["Vary"] == "HX-Request, HX-Target"
    assert page.template == "jobs.html"
    cards = page.context["cards"]
    assert {c["card"].integration.name for c in cards} == {"Jira ALPHA", "GitHub ALPHA"}
    assert "<html" in page.text
    assert "GitHub said 401 for ALPHA" in page.text  # the failed job's error
    assert 'sse-connect="/jobs/events"' in page.text
    assert 'hx-post="/jobs/' not in page.text  # a viewer gets no action buttons


def test_htmx_gets_the_content_block_or_the_targeted_one(world: World, viewer) -> None:
    content = viewer.get("/jobs", headers=HX)
    assert content.status_code == 200
    assert "<html" not in content.text
    assert "<title>Jobs" in content.text
    runs = viewer.get("/jobs?state=failed", headers={**HX, "HX-Target": "runs"})
    assert runs.context["partial"] is True
    assert "<h1>" not in runs.text
    assert "GitHub ALPHA" in runs.text
    assert "Jira ALPHA" not in runs.text
    restore = viewer.get("/jobs", headers={**HX, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text


def test_buttons_are_enabled_only_where_the_action_applies(world: World, client_factory) -> None:
    user = client_factory(world.a.users["user"])
    page = user.get(f"/jobs/{world.a.ids['github_job_id']}")  # a failed job
    assert "disabled" not in _button(page.text, "retry")
    assert "disabled" not in _button(page.text, "run")
    assert "disabled" in _button(page.text, "cancel")
    assert "disabled" in _button(page.text, "resume")


def test_run_now_queues_a_run_and_offers_cancel(
    world: World, client_factory: ClientFactory, pg_engine
) -> None:
    user = client_factory(world.a.users["user"])
    job_id = world.a.ids["job_id"]
    response = user.post(f"/jobs/{job_id}/run", headers=HX)
    assert response.status_code == 200, response.text
    assert "queued" in response.headers["HX-Trigger"]
    assert "<html" not in response.text
    assert "disabled" not in _button(response.text, "cancel")
    assert "disabled" in _button(response.text, "run")
    with Session(pg_engine) as session:
        states = session.scalars(
            select(JobRun.state).where(JobRun.job_id == job_id).order_by(JobRun.id)
        ).all()
    assert states == ["succeeded", "queued"]
    again = user.post(f"/jobs/{job_id}/run", headers=HX)
    assert again.status_code == 409
    assert "running already" in again.text


def test_pause_resume_cancel_and_retry(
    world: World, client_factory: ClientFactory, pg_engine
) -> None:
    user = client_factory(world.a.users["user"])
    job_id, failed_job = world.a.ids["job_id"], world.a.ids["github_job_id"]
    assert user.post(f"/jobs/{job_id}/pause", headers=HX).status_code == 200
    assert "disabled" not in _button(user.get(f"/jobs/{job_id}").text, "resume")
    refused = user.post(f"/jobs/{job_id}/run", headers=HX)
    assert refused.status_code == 409
    assert "paused" in refused.text
    assert user.post(f"/jobs/{job_id}/resume", headers=HX).status_code == 200
    assert user.post(f"/jobs/{job_id}/run", headers=HX).status_code == 200
    cancelled = user.post(f"/jobs/{job_id}/cancel", headers=HX)
    assert cancelled.status_code == 200
    assert "cancel" in cancelled.headers["HX-Trigger"].lower()
    assert user.post(f"/jobs/{job_id}/cancel", headers=HX).status_code == 409
    retried = user.post(f"/jobs/{failed_job}/retry", headers=HX)
    assert retried.status_code == 200, retried.text
    with Session(pg_engine) as session:
        assert session.scalar(select(Job.state).where(Job.id == failed_job)) == "running"
        latest = session.scalars(
            select(JobRun.state).where(JobRun.job_id == job_id).order_by(JobRun.id.desc())
        ).first()
    assert latest == "cancelled"


def test_a_viewer_cannot_act(world: World, viewer) -> None:
    response = viewer.post(f"/jobs/{world.a.ids['job_id']}/run", headers=HX)
    assert response.status_code == 403
    assert "needs user" in response.text


def test_the_runs_fragment_reads_no_job_cards(world: World, viewer, pg_engine) -> None:
    with statements_sent(pg_engine) as sent:
        viewer.get("/jobs")
    assert any("latest_run" in sql for sql, _ in sent)  # the cards join each job's latest run
    with statements_sent(pg_engine) as sent:
        runs = viewer.get("/jobs?state=failed", headers={**HX, "HX-Target": "runs"})
    assert "GitHub ALPHA" in runs.text
    assert not any("latest_run" in sql for sql, _ in sent)


def test_the_schedule_form_validates_and_saves(world: World, admin, pg_engine) -> None:
    job_id = world.a.ids["job_id"]
    bad = admin.post(
        f"/jobs/{job_id}/schedule",
        data={"schedule_interval_seconds": "5", "retry_interval_seconds": "soon"},
        headers=HX,
    )
    assert bad.status_code == 422
    assert bad.context["errors"] == {
        "schedule_interval_seconds": "enter a number of at least 60",
        "retry_interval_seconds": "enter a whole number",
    }
    assert 'aria-invalid="true"' in bad.text
    good = admin.post(
        f"/jobs/{job_id}/schedule",
        data={"schedule_interval_seconds": "7200", "retry_interval_seconds": "300"},
        headers=HX,
    )
    assert good.status_code == 200
    with Session(pg_engine) as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert (job.schedule_interval_seconds, job.retry_interval_seconds) == (7200, 300)


def test_run_history_pages_and_filters(world: World, viewer, pg_engine) -> None:
    job_id = world.a.ids["job_id"]
    with Session(pg_engine) as session, session.begin():
        run = session.get(JobRun, world.a.ids["run_id"])
        assert run is not None
        for n in range(30):
            session.add(
                JobRun(
                    tenant_id=run.tenant_id,
                    integration_id=run.integration_id,
                    job_id=job_id,
                    state="failed" if n % 2 else "succeeded",
                    error=f"boom {n}" if n % 2 else None,
                )
            )
    first = viewer.get(f"/jobs/{job_id}")
    assert len(first.context["runs"]) == 25
    assert first.context["more"] is True
    second = viewer.get(f"/jobs/{job_id}?page=2", headers={**HX, "HX-Target": "runs"})
    assert len(second.context["runs"]) == 6
    assert second.context["more"] is False
    failed = viewer.get(f"/jobs/{job_id}?state=failed", headers={**HX, "HX-Target": "runs"})
    assert {r.run.state for r in failed.context["runs"]} == {"failed"}
    assert "boom 29" in failed.text


def test_a_disabled_integrations_job_offers_no_run(world: World, client_factory, pg_engine) -> None:
    with Session(pg_engine) as session, session.begin():
        session.execute(update(Job).where(Job.id == world.a.ids["job_id"]).values(enabled=False))
    user = client_factory(world.a.users["user"])
    page = user.get(f"/jobs/{world.a.ids['job_id']}")
    assert "disabled" in _button(page.text, "run")
    assert user.post(f"/jobs/{world.a.ids['job_id']}/run", headers=HX).status_code == 409


def test_the_jobs_api(world: World, client_factory: ClientFactory) -> None:
    client = client_factory()
    viewer = {"Authorization": f"Bearer {world.a.tokens['viewer']}"}
    user = {"Authorization": f"Bearer {world.a.tokens['user']}"}
    listed = client.get("/api/v1/jobs", headers=viewer).json()["jobs"]
    assert {j["integration"]["name"] for j in listed} == {"Jira ALPHA", "GitHub ALPHA"}
    job_id = world.a.ids["job_id"]
    assert client.post(f"/api/v1/jobs/{job_id}/run", headers=viewer).status_code == 403
    started = client.post(f"/api/v1/jobs/{job_id}/run", headers=user)
    assert started.status_code == 202
    run = started.json()["run"]
    assert run["state"] == "queued"
    assert run["job_id"] == job_id
    status = client.get(f"/api/v1/runs/{run['id']}", headers=viewer).json()
    assert status["id"] == run["id"]
    assert status["counts"]["extracted"] == 0
    job = client.get(f"/api/v1/jobs/{job_id}", headers=viewer).json()
    assert job["state"] == "running"
    assert job["last_run"]["id"] == run["id"]
    assert "cancel" in job["actions"]
    conflict = client.post(f"/api/v1/jobs/{job_id}/run", headers=user)
    assert conflict.status_code == 409
    assert "running already" in conflict.json()["error"]
    foreign = client.get(f"/api/v1/runs/{world.b.ids['run_id']}", headers=viewer)
    assert foreign.status_code == 404
