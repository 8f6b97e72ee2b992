"""Reading a tenant's configuration. Every function takes the tenant explicitly."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.tenant_config import TenantConfig, TypeTarget, WorkflowStep, name_key
from storage.schema import (
    CustomFieldMapping,
    StatusMapping,
    Tenant,
    WitHierarchy,
    WitMapping,
    Workflow,
)


def list_workflow_steps(session: Session, tenant_id: int) -> list[Workflow]:
    return list(
        session.scalars(
            select(Workflow)
            .where(Workflow.tenant_id == tenant_id)
            .order_by(Workflow.integration_id.nulls_first(), Workflow.step_order.nulls_last())
        )
    )


def list_hierarchies(session: Session, tenant_id: int) -> list[WitHierarchy]:
    return list(
        session.scalars(
            select(WitHierarchy)
            .where(WitHierarchy.tenant_id == tenant_id)
            .order_by(WitHierarchy.level_number.desc())
        )
    )


def list_wit_mappings(session: Session, tenant_id: int) -> list[WitMapping]:
    return list(
        session.scalars(
            select(WitMapping)
            .where(WitMapping.tenant_id == tenant_id)
            .order_by(WitMapping.source_key)
        )
    )


def list_status_mappings(session: Session, tenant_id: int) -> list[StatusMapping]:
    return list(
        session.scalars(
            select(StatusMapping)
            .where(StatusMapping.tenant_id == tenant_id)
            .order_by(StatusMapping.source_key)
        )
    )


def list_field_mappings(session: Session, tenant_id: int) -> list[CustomFieldMapping]:
    return list(
        session.scalars(
            select(CustomFieldMapping)
            .where(CustomFieldMapping.tenant_id == tenant_id)
            .order_by(CustomFieldMapping.integration_id, CustomFieldMapping.slot)
        )
    )


def load_tenant_config(session: Session, tenant_id: int) -> TenantConfig:
    """The active configuration as one immutable snapshot for the transform."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise LookupError(f"tenant {tenant_id} does not exist")
    steps_by_id: dict[int, Workflow] = {}
    workflows: dict[int | None, list[WorkflowStep]] = defaultdict(list)
    for row in list_workflow_steps(session, tenant_id):
        if not row.active:
            continue
        steps_by_id[row.id] = row
        workflows[row.integration_id].append(
            WorkflowStep(row.step_name, row.step_order, row.category, row.is_commitment_point)
        )
    levels = {h.id: h.level_number for h in list_hierarchies(session, tenant_id) if h.active}
    types: dict[int | None, dict[str, TypeTarget]] = defaultdict(dict)
    for m in list_wit_mappings(session, tenant_id):
        if m.active and m.hierarchy_id in levels:
            types[m.integration_id][name_key(m.source_name)] = TypeTarget(
                m.canonical_type, levels[m.hierarchy_id]
            )
    statuses: dict[int | None, dict[str, str]] = defaultdict(dict)
    for s in list_status_mappings(session, tenant_id):
        if s.active and s.workflow_id in steps_by_id:
            statuses[s.integration_id][name_key(s.source_name)] = steps_by_id[
                s.workflow_id
            ].step_name
    slots: dict[int, dict[str, str]] = defaultdict(dict)
    for f in list_field_mappings(session, tenant_id):
        slots[f.integration_id][f.slot] = f.field_external_id
    return TenantConfig(
        tenant_id=tenant_id,
        config_version=tenant.config_version,
        workflows={k: tuple(v) for k, v in workflows.items()},
        type_mappings=dict(types),
        status_mappings=dict(statuses),
        field_slots=dict(slots),
    )
