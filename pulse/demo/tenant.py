"""The demo tenant: created on the first demo, reused by every later one.

Reuse rather than recreate: the tenant, its configuration and its loaded data stay (nothing
is deleted), the integrations are pointed at this demo's simulator, the admin gets a fresh
password, and a run an earlier demo left unfinished (Ctrl-C) is cancelled so the job can
start again. The new full runs fetch everything again; records the raw store already holds
unchanged are not stored twice, so an unchanged source loads nothing new.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from connectors.simulator import SimulatorServer
from pulse.errors import ConfigurationError
from pulse.sandbox import create_sandbox_tenant, sandbox_credentials
from storage import run_state
from storage.crypto import CredentialCipher
from storage.db import transaction
from storage.repositories import integrations, jobs, tenants, users

DEMO_TENANT = "Demo"
ADMIN_EMAIL = "admin@demo.example"
SIMULATOR_TOKEN = "sim-demo"  # noqa: S105 - the simulator accepts any token starting "sim-"


@dataclass(frozen=True, slots=True)
class DemoTenant:
    id: int
    slug: str
    jira_id: int
    github_id: int
    reused: bool
    email: str
    password: str


def find_demo_tenant(factory: sessionmaker[Session]) -> int | None:
    with factory() as session:
        tenant = tenants.find_tenant(session, DEMO_TENANT)
        return None if tenant is None else tenant.id


def prepare_tenant(
    factory: sessionmaker[Session], cipher: CredentialCipher, sim: SimulatorServer, site: str
) -> DemoTenant:
    projects = sorted({i["key"].split("-")[0] for i in sim.truth("jira", site)["issues"]})
    password = secrets.token_urlsafe(12)
    with transaction(factory) as session:
        found = tenants.find_tenant(session, DEMO_TENANT)
        if found is None:
            sandbox = create_sandbox_tenant(
                session,
                name=DEMO_TENANT,
                site=site,
                jira_url=sim.jira_url(site),
                github_url=sim.github_url(site),
                projects=projects,
                token=SIMULATOR_TOKEN,
                cipher=cipher,
            )
            tenant_id, jira_id, github_id = sandbox.id, sandbox.jira_id, sandbox.github_id
        else:
            tenant_id = found.id
            jira_id = _point_at(
                session,
                cipher,
                tenant_id,
                name="Jira",
                provider="jira",
                base_url=sim.jira_url(site),
                settings={"projects": projects},
                credentials=sandbox_credentials("jira", SIMULATOR_TOKEN),
            )
            github_id = _point_at(
                session,
                cipher,
                tenant_id,
                name="GitHub",
                provider="github",
                base_url=sim.github_url(site),
                settings={"organization": site},
                credentials=sandbox_credentials("github", SIMULATOR_TOKEN),
            )
            _make_startable(session, tenant_id)
        _admin(session, tenant_id, password)
        tenant = tenants.get_tenant(session, tenant_id)
        assert tenant is not None
        slug = tenant.slug
    return DemoTenant(tenant_id, slug, jira_id, github_id, found is not None, ADMIN_EMAIL, password)


def _point_at(
    session: Session,
    cipher: CredentialCipher,
    tenant_id: int,
    *,
    name: str,
    provider: str,
    base_url: str,
    settings: dict[str, Any],
    credentials: dict[str, Any],
) -> int:
    """Point an integration at this demo's simulator (its port or dataset may differ from the
    last demo's), enabled, with its job. An unchanged integration is left alone: an edit bumps
    the tenant's configuration version."""
    found = integrations.find_integration(session, tenant_id, name)
    if found is None:
        created = integrations.create_integration(
            session,
            tenant_id,
            name=name,
            provider=provider,
            base_url=base_url,
            credentials=credentials,
            settings=settings,
            cipher=cipher,
        )
        jobs.ensure_job(session, tenant_id, created.id)
        return created.id
    try:
        stored = integrations.credentials_of(found, cipher)
    except ConfigurationError:  # written with a key since regenerated: replace them outright
        found.credentials_encrypted = None
        stored = {}
    if (found.base_url, found.settings, stored) != (base_url, settings, credentials):
        integrations.update_integration(
            session,
            tenant_id,
            found.id,
            name=name,
            base_url=base_url,
            settings=settings,
            credentials=credentials,
            cipher=cipher,
        )
    if not found.enabled:
        integrations.enable_integration(session, tenant_id, found.id)
    jobs.ensure_job(session, tenant_id, found.id)
    return found.id


def _make_startable(session: Session, tenant_id: int) -> None:
    """Cancel what an interrupted demo left running and undo a pause made in the UI."""
    for job in jobs.list_jobs(session, tenant_id):
        run = jobs.get_run(session, tenant_id, job.last_run_id) if job.last_run_id else None
        if run is not None and run.state in jobs.ACTIVE_RUN_STATES:
            jobs.request_cancel(session, tenant_id, run.id)
            run_state.cancel_run(session, run.id)
        if job.state == "paused":
            jobs.resume_job(session, tenant_id, job.id)


def _admin(session: Session, tenant_id: int, password: str) -> None:
    existing = [u for u in users.list_users(session, tenant_id) if u.email == ADMIN_EMAIL]
    if not existing:
        users.create_user(
            session,
            tenant_id,
            email=ADMIN_EMAIL,
            password=password,
            role="admin",
            display_name="Demo admin",
        )
        return
    user = existing[0]
    user.password_hash = users.hash_password(password)
    users.set_role(session, tenant_id, user.id, "admin")
    users.set_active(session, tenant_id, user.id, True)
