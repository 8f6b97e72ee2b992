"""Tenants and their default configuration."""

from __future__ import annotations

import re

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pulse.errors import ConfigurationError
from storage import defaults
from storage.schema import StatusMapping, Tenant, WitHierarchy, WitMapping, Workflow


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")
    return slug or "tenant"


def create_tenant(session: Session, name: str, *, slug: str | None = None) -> Tenant:
    """Create a tenant with the default workflow, hierarchy, type and status mappings."""
    name = name.strip()
    if not name:
        raise ConfigurationError("a tenant needs a name")
    slug = slug or slugify(name)
    clash = session.scalar(select(Tenant).where((Tenant.name == name) | (Tenant.slug == slug)))
    if clash is not None:
        raise ConfigurationError(f"tenant {name!r} already exists (slug {clash.slug!r})")
    tenant = Tenant(name=name, slug=slug, active=True, config_version=1)
    session.add(tenant)
    session.flush()
    apply_default_configuration(session, tenant.id)
    return tenant


def apply_default_configuration(session: Session, tenant_id: int) -> None:
    steps = {}
    for step in defaults.WORKFLOW_STEPS:
        row = Workflow(
            tenant_id=tenant_id,
            step_name=step.name,
            step_order=step.order,
            category=step.category,
            is_commitment_point=step.commitment,
        )
        session.add(row)
        steps[step.name] = row
    levels = {}
    for number, name, description in defaults.HIERARCHY_LEVELS:
        level = WitHierarchy(
            tenant_id=tenant_id, level_number=number, name=name, description=description
        )
        session.add(level)
        levels[number] = level
    session.flush()
    for source, canonical, number in defaults.TYPE_MAPPINGS:
        session.add(
            WitMapping(
                tenant_id=tenant_id,
                source_name=source,
                source_key=source.casefold(),
                canonical_type=canonical,
                hierarchy_id=levels[number].id,
            )
        )
    for source, step_name in defaults.STATUS_MAPPINGS:
        session.add(
            StatusMapping(
                tenant_id=tenant_id,
                source_name=source,
                source_key=source.casefold(),
                workflow_id=steps[step_name].id,
            )
        )
    session.flush()


def get_tenant(session: Session, tenant_id: int) -> Tenant | None:
    return session.get(Tenant, tenant_id)


def find_tenant(session: Session, name_or_slug: str) -> Tenant | None:
    """Look a tenant up by slug, name or numeric id (what CLI users type)."""
    condition = (Tenant.slug == name_or_slug) | (Tenant.name == name_or_slug)
    if name_or_slug.isdigit():
        condition = condition | (Tenant.id == int(name_or_slug))
    return session.scalar(select(Tenant).where(condition))


def list_tenants(session: Session) -> list[Tenant]:
    return list(session.scalars(select(Tenant).order_by(Tenant.id)))


def bump_config_version(session: Session, tenant_id: int) -> int:
    """Called by every configuration edit; dataflows refresh their cached configuration."""
    new = session.execute(
        update(Tenant)
        .where(Tenant.id == tenant_id)
        .values(config_version=Tenant.config_version + 1)
        .returning(Tenant.config_version)
    ).scalar_one()
    return int(new)
