"""A tenant whose Jira and GitHub integrations point at the local API simulator: what the demo,
the benchmarks and the tests all start from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from storage.crypto import CredentialCipher
from storage.repositories import integrations, jobs, tenants


@dataclass(frozen=True, slots=True)
class SandboxTenant:
    id: int
    site: str
    jira_id: int
    github_id: int


def sandbox_credentials(provider: Literal["jira", "github"], token: str) -> dict[str, str]:
    """What a sandbox integration authenticates with (the simulator takes any `sim-` token)."""
    if provider == "jira":
        return {"email": "sync@example.com", "api_token": token}
    return {"token": token}


def create_sandbox_tenant(
    session: Session,
    *,
    name: str,
    site: str,
    jira_url: str,
    github_url: str,
    projects: list[str],
    token: str,
    cipher: CredentialCipher,
    jira_settings: dict[str, Any] | None = None,
) -> SandboxTenant:
    """The tenant (with its default configuration), its two integrations and their jobs."""
    tenant = tenants.create_tenant(session, name)
    jira = integrations.create_integration(
        session,
        tenant.id,
        name="Jira",
        provider="jira",
        base_url=jira_url,
        credentials=sandbox_credentials("jira", token),
        settings={"projects": projects, **(jira_settings or {})},
        cipher=cipher,
    )
    github = integrations.create_integration(
        session,
        tenant.id,
        name="GitHub",
        provider="github",
        base_url=github_url,
        credentials=sandbox_credentials("github", token),
        settings={"organization": site},
        cipher=cipher,
    )
    jobs.ensure_job(session, tenant.id, jira.id)
    jobs.ensure_job(session, tenant.id, github.id)
    return SandboxTenant(tenant.id, site, jira.id, github.id)
