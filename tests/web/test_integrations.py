"""Integrations: the list, the create/edit modal with field errors, write-only credentials,
test connection against the local simulator, and enable/disable refused during a run."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.simulator import SimulatorServer
from connectors.simulator.config import config_for
from storage.repositories.integrations import credentials_of
from storage.schema import Integration, Job, JobRun, Tenant
from tests.web.conftest import HX, World

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(config_for("issues=5,prs=2,repos=1", seed=3, sites="acme")) as server:
        yield server


def _jira_form(sim: SimulatorServer, **overrides: str) -> dict[str, str]:
    return {
        "provider": "jira",
        "name": "Acme Jira",
        "base_url": sim.jira_url("acme"),
        "email": "sync@example.com",
        "api_token": "sim-web-token",
        "projects": "ACME, core",
        "extra_jql": "labels = web",
        "deployment": "cloud",
        "page_size": "50",
        **overrides,
    }


def _config_version(engine, tenant_id: int) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(Tenant.config_version).where(Tenant.id == tenant_id)) or 0)


def test_the_list_shows_integrations_without_secrets(world: World, admin) -> None:
    page = admin.get("/integrations")
    assert page.status_code == 200
    assert "Jira ALPHA" in page.text
    assert "GitHub ALPHA" in page.text
    assert "jira-secret-ALPHA" not in page.text
    assert "ghp-secret" not in page.text
    assert page.text.count('<span class="badge ok">stored</span>') == 2


def test_the_modal_renders_each_providers_fields(admin) -> None:
    jira = admin.get("/integrations/new", headers=HX)
    assert "<dialog" in jira.text
    assert 'name="projects"' in jira.text
    github = admin.get("/integrations/new?provider=github", headers=HX)
    assert 'name="organization"' in github.text
    assert 'name="projects"' not in github.text
    assert 'value="https://api.github.com"' in github.text
    embedding = admin.get("/integrations/new?provider=embedding", headers=HX)
    assert 'name="dimension"' in embedding.text
    assert admin.get("/integrations/new?provider=gitlab", headers=HX).status_code == 422


def test_an_invalid_form_answers_422_with_field_errors(world: World, admin, sim) -> None:
    form = _jira_form(sim, name="", base_url="ftp://nope", projects="not a key!", api_token="")
    response = admin.post("/integrations", data=form, headers=HX)
    assert response.status_code == 422
    errors = response.context["errors"]
    assert errors["name"] == "this field is required"
    assert "https://" in errors["base_url"]
    assert "not a Jira project key" in errors["projects"]
    assert errors["api_token"] == "this field is required"
    assert "sim-web-token" not in response.text  # secrets are never echoed
    assert 'value="labels = web"' in response.text  # other input is kept


def test_a_duplicate_name_is_a_field_error(world: World, admin, sim) -> None:
    response = admin.post("/integrations", data=_jira_form(sim, name="Jira ALPHA"), headers=HX)
    assert response.status_code == 422
    assert "already exists" in response.context["errors"]["name"]


def test_create_stores_encrypted_credentials_and_a_job(world: World, admin, sim, pg_engine) -> None:
    before = _config_version(pg_engine, world.a.id)
    response = admin.post("/integrations", data=_jira_form(sim), headers=HX)
    assert response.status_code == 204, response.text
    events = json.loads(response.headers["HX-Trigger"])
    assert events["closeModal"] is True
    assert events["integrationsChanged"] is True
    with Session(pg_engine) as session:
        row = session.scalars(select(Integration).where(Integration.name == "Acme Jira")).one()
        assert row.tenant_id == world.a.id
        assert row.settings["projects"] == ["ACME", "CORE"]  # as the connector normalises them
        assert "sim-web-token" not in (row.credentials_encrypted or "")
        assert credentials_of(row, world.cipher) == {
            "email": "sync@example.com",
            "api_token": "sim-web-token",
        }
        assert session.scalar(select(Job.id).where(Job.integration_id == row.id)) is not None
    assert _config_version(pg_engine, world.a.id) > before
    listed = admin.get("/integrations", headers={**HX, "HX-Target": "integration_list"})
    assert "Acme Jira" in listed.text
    assert "<h1>" not in listed.text


def test_edit_never_shows_secrets_and_blank_keeps_them(world: World, admin, pg_engine) -> None:
    integration_id = world.a.ids["integration_id"]
    modal = admin.get(f"/integrations/{integration_id}/edit", headers=HX)
    assert modal.status_code == 200
    assert "jira-secret-ALPHA" not in modal.text
    assert "bot@alpha.example" not in modal.text
    assert "leave blank to keep" in modal.text
    form = {
        "provider": "jira",
        "name": "Jira ALPHA renamed",
        "base_url": "https://alpha.atlassian.example",
        "email": "",
        "api_token": "",
        "projects": "ALPH",
        "deployment": "server",
    }
    saved = admin.post(f"/integrations/{integration_id}", data=form, headers=HX)
    assert saved.status_code == 204, saved.text
    with Session(pg_engine) as session:
        row = session.get(Integration, integration_id)
        assert row is not None
        assert row.name == "Jira ALPHA renamed"
        assert row.settings["deployment"] == "server"
        assert credentials_of(row, world.cipher)["api_token"] == "jira-secret-ALPHA"
    rotated = admin.post(
        f"/integrations/{integration_id}", data={**form, "api_token": "new-secret"}, headers=HX
    )
    assert rotated.status_code == 204
    with Session(pg_engine) as session:
        row = session.get(Integration, integration_id)
        assert row is not None
        assert credentials_of(row, world.cipher) == {
            "email": "bot@alpha.example",
            "api_token": "new-secret",
        }


def test_test_connection_against_the_simulator(world: World, admin, sim) -> None:
    assert admin.post("/integrations", data=_jira_form(sim), headers=HX).status_code == 204
    github = {
        "provider": "github",
        "name": "Acme GitHub",
        "base_url": sim.github_url("acme"),
        "token": "sim-web-token",
        "organization": "acme",
    }
    assert admin.post("/integrations", data=github, headers=HX).status_code == 204
    bad = {**_jira_form(sim), "name": "Bad Jira", "api_token": "wrong-token"}
    assert admin.post("/integrations", data=bad, headers=HX).status_code == 204
    rows = admin.get("/integrations").context["rows"]
    ids = {r.name: r.id for r in rows}
    ok = admin.post(f"/integrations/{ids['Acme Jira']}/test", headers=HX)
    assert ok.status_code == 200
    assert ok.context["check"].ok, ok.text
    assert "Connected to" in ok.text
    assert "✓" in ok.text
    gh = admin.post(f"/integrations/{ids['Acme GitHub']}/test", headers=HX)
    assert gh.context["check"].ok, gh.text
    assert "@" in gh.text
    failed = admin.post(f"/integrations/{ids['Bad Jira']}/test", headers=HX)
    assert failed.status_code == 200
    assert not failed.context["check"].ok
    assert "✗" in failed.text
    assert "wrong-token" not in failed.text


def test_enable_and_disable_are_refused_during_a_run(world: World, admin, pg_engine) -> None:
    integration_id = world.a.ids["integration_id"]
    off = admin.post(f"/integrations/{integration_id}/disable", headers=HX)
    assert off.status_code == 200
    assert "Enable" in off.text
    with Session(pg_engine) as session:
        job = session.scalars(select(Job).where(Job.integration_id == integration_id)).one()
        assert job.enabled is False
    assert admin.post(f"/integrations/{integration_id}/enable", headers=HX).status_code == 200
    with Session(pg_engine) as session, session.begin():
        run = session.get(JobRun, world.a.ids["run_id"])
        assert run is not None
        run.state = "running"
    refused = admin.post(f"/integrations/{integration_id}/disable", headers=HX)
    assert refused.status_code == 409
    assert f"run {world.a.ids['run_id']} is running" in refused.text
