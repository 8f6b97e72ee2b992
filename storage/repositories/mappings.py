"""Editing a tenant's mapping configuration: hierarchies, type mappings, workflow steps,
status mappings and custom-field slots.

Every edit bumps `tenants.config_version` in the same transaction, because the dataflows cache
the configuration by that number and a replay compares it. Refusals raise `EditError` naming
the form field at fault, so the web UI can show the message next to that field.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from pulse.errors import ConfigurationError
from pulse.tenant_config import name_key
from storage.repositories.tenants import bump_config_version
from storage.schema import (
    FIELD_SLOTS,
    STEP_CATEGORIES,
    CustomField,
    CustomFieldMapping,
    Integration,
    StatusMapping,
    WitHierarchy,
    WitMapping,
    Workflow,
)


class EditError(ConfigurationError):
    """A configuration edit that was refused; `field` names the input at fault (or None)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _same_scope(column: Any, integration_id: int | None) -> ColumnElement[bool]:
    if integration_id is None:
        return column.is_(None)
    return column == integration_id


def _check_integration(session: Session, tenant_id: int, integration_id: int | None) -> None:
    if integration_id is None:
        return
    owner = session.scalar(select(Integration.tenant_id).where(Integration.id == integration_id))
    if owner != tenant_id:
        raise EditError("choose one of your integrations", field="integration_id")


def _clean_name(value: str, field: str, *, limit: int) -> str:
    value = " ".join(value.split())
    if not value:
        raise EditError("this field is required", field=field)
    if len(value) > limit:
        raise EditError(f"use at most {limit} characters", field=field)
    return value


# --- hierarchies ------------------------------------------------------------------------------


def get_hierarchy(session: Session, tenant_id: int, hierarchy_id: int) -> WitHierarchy | None:
    return session.scalar(
        select(WitHierarchy).where(
            WitHierarchy.tenant_id == tenant_id, WitHierarchy.id == hierarchy_id
        )
    )


def _require_hierarchy(session: Session, tenant_id: int, hierarchy_id: int) -> WitHierarchy:
    found = get_hierarchy(session, tenant_id, hierarchy_id)
    if found is None:
        raise EditError("choose one of the hierarchy levels", field="hierarchy_id")
    return found


def _check_hierarchy_unique(
    session: Session, tenant_id: int, level_number: int, name: str, own_id: int | None
) -> None:
    for column, value, field in (
        (WitHierarchy.level_number, level_number, "level_number"),
        (WitHierarchy.name, name, "name"),
    ):
        clash = session.scalar(
            select(WitHierarchy.id).where(
                WitHierarchy.tenant_id == tenant_id,
                column == value,
                WitHierarchy.id != (own_id or 0),
            )
        )
        if clash is not None:
            raise EditError(f"another level already uses {value!r}", field=field)


def create_hierarchy(
    session: Session,
    tenant_id: int,
    *,
    level_number: int,
    name: str,
    description: str | None = None,
) -> WitHierarchy:
    name = _clean_name(name, "name", limit=100)
    _check_hierarchy_unique(session, tenant_id, level_number, name, None)
    row = WitHierarchy(
        tenant_id=tenant_id,
        level_number=level_number,
        name=name,
        description=(description or "").strip() or None,
        active=True,
    )
    session.add(row)
    session.flush()
    bump_config_version(session, tenant_id)
    return row


def update_hierarchy(
    session: Session,
    tenant_id: int,
    hierarchy_id: int,
    *,
    level_number: int,
    name: str,
    description: str | None = None,
) -> WitHierarchy | None:
    row = get_hierarchy(session, tenant_id, hierarchy_id)
    if row is None:
        return None
    name = _clean_name(name, "name", limit=100)
    _check_hierarchy_unique(session, tenant_id, level_number, name, row.id)
    row.level_number, row.name = level_number, name
    row.description = (description or "").strip() or None
    session.flush()
    bump_config_version(session, tenant_id)
    return row


def _references(session: Session, column: Any, tenant_id: int, ident: int) -> int:
    """How many of the tenant's mappings point at `ident` through `column` (e.g.
    `WitMapping.hierarchy_id`): a level or step in use must have them moved before it goes."""
    model = column.class_
    return int(
        session.scalar(
            select(func.count())
            .select_from(model)
            .where(model.tenant_id == tenant_id, column == ident)
        )
        or 0
    )


def _move_references(session: Session, column: Any, tenant_id: int, old: int, new: int) -> None:
    model = column.class_
    session.execute(
        update(model).where(model.tenant_id == tenant_id, column == old).values({column.key: new})
    )


def hierarchy_usage(session: Session, tenant_id: int, hierarchy_id: int) -> int:
    """How many type mappings point at this level (a delete must move them first)."""
    return _references(session, WitMapping.hierarchy_id, tenant_id, hierarchy_id)


def delete_hierarchy(
    session: Session, tenant_id: int, hierarchy_id: int, *, move_to: int | None = None
) -> int | None:
    """Delete a level, first moving its type mappings to `move_to` when it has any.

    Returns how many mappings moved; None when the level does not exist."""
    row = get_hierarchy(session, tenant_id, hierarchy_id)
    if row is None:
        return None
    used = hierarchy_usage(session, tenant_id, hierarchy_id)
    if used:
        if move_to is None:
            raise EditError(
                f"{used} type mapping(s) use level {row.name!r}: choose where to move them",
                field="move_to",
            )
        if move_to == hierarchy_id:
            raise EditError("choose a different level", field="move_to")
        target = get_hierarchy(session, tenant_id, move_to)
        if target is None:
            raise EditError("choose one of the hierarchy levels", field="move_to")
        _move_references(session, WitMapping.hierarchy_id, tenant_id, hierarchy_id, target.id)
    session.delete(row)
    session.flush()
    bump_config_version(session, tenant_id)
    return used


# --- work item type mappings --------------------------------------------------------------------


def get_wit_mapping(session: Session, tenant_id: int, mapping_id: int) -> WitMapping | None:
    return session.scalar(
        select(WitMapping).where(WitMapping.tenant_id == tenant_id, WitMapping.id == mapping_id)
    )


def find_wit_mappings(
    session: Session,
    tenant_id: int,
    *,
    search: str | None = None,
    hierarchy_id: int | None = None,
    integration_id: int | None = None,
) -> list[WitMapping]:
    """The type mappings matching the page's filters, by source name."""
    query = select(WitMapping).where(WitMapping.tenant_id == tenant_id)
    if search:
        pattern = f"%{search.strip()}%"
        query = query.where(
            WitMapping.source_name.ilike(pattern) | WitMapping.canonical_type.ilike(pattern)
        )
    if hierarchy_id is not None:
        query = query.where(WitMapping.hierarchy_id == hierarchy_id)
    if integration_id is not None:
        query = query.where(WitMapping.integration_id == integration_id)
    return list(session.scalars(query.order_by(WitMapping.source_key, WitMapping.id)))


def _check_source_unique(
    session: Session,
    model: type[WitMapping] | type[StatusMapping],
    tenant_id: int,
    integration_id: int | None,
    key: str,
    own_id: int | None,
) -> None:
    clash = session.scalar(
        select(model.id).where(
            model.tenant_id == tenant_id,
            _same_scope(model.integration_id, integration_id),
            model.source_key == key,
            model.id != (own_id or 0),
        )
    )
    if clash is not None:
        raise EditError("this source name is already mapped", field="source_name")


def create_wit_mapping(
    session: Session,
    tenant_id: int,
    *,
    source_name: str,
    canonical_type: str,
    hierarchy_id: int,
    integration_id: int | None = None,
) -> WitMapping:
    source_name = _clean_name(source_name, "source_name", limit=200)
    canonical_type = _clean_name(canonical_type, "canonical_type", limit=100)
    _check_integration(session, tenant_id, integration_id)
    _require_hierarchy(session, tenant_id, hierarchy_id)
    key = name_key(source_name)
    _check_source_unique(session, WitMapping, tenant_id, integration_id, key, None)
    row = WitMapping(
        tenant_id=tenant_id,
        integration_id=integration_id,
        source_name=source_name,
        source_key=key,
        canonical_type=canonical_type,
        hierarchy_id=hierarchy_id,
        active=True,
    )
    session.add(row)
    session.flush()
    bump_config_version(session, tenant_id)
    return row


def update_wit_mapping(
    session: Session,
    tenant_id: int,
    mapping_id: int,
    *,
    source_name: str,
    canonical_type: str,
    hierarchy_id: int,
    active: bool = True,
) -> WitMapping | None:
    row = get_wit_mapping(session, tenant_id, mapping_id)
    if row is None:
        return None
    source_name = _clean_name(source_name, "source_name", limit=200)
    canonical_type = _clean_name(canonical_type, "canonical_type", limit=100)
    _require_hierarchy(session, tenant_id, hierarchy_id)
    key = name_key(source_name)
    _check_source_unique(session, WitMapping, tenant_id, row.integration_id, key, row.id)
    row.source_name, row.source_key = source_name, key
    row.canonical_type, row.hierarchy_id, row.active = canonical_type, hierarchy_id, active
    session.flush()
    bump_config_version(session, tenant_id)
    return row


def delete_wit_mapping(session: Session, tenant_id: int, mapping_id: int) -> bool:
    row = get_wit_mapping(session, tenant_id, mapping_id)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    bump_config_version(session, tenant_id)
    return True


# --- workflow steps -------------------------------------------------------------------------


def get_step(session: Session, tenant_id: int, step_id: int) -> Workflow | None:
    return session.scalar(
        select(Workflow).where(Workflow.tenant_id == tenant_id, Workflow.id == step_id)
    )


def _check_category(category: str) -> None:
    if category not in STEP_CATEGORIES:
        raise EditError(f"choose one of {', '.join(STEP_CATEGORIES)}", field="category")


def _check_step_unique(
    session: Session, tenant_id: int, integration_id: int | None, name: str, own_id: int | None
) -> None:
    clash = session.scalar(
        select(Workflow.id).where(
            Workflow.tenant_id == tenant_id,
            _same_scope(Workflow.integration_id, integration_id),
            func.lower(Workflow.step_name) == name.lower(),
            Workflow.id != (own_id or 0),
        )
    )
    if clash is not None:
        raise EditError("another step already has this name", field="step_name")


def create_step(
    session: Session,
    tenant_id: int,
    *,
    step_name: str,
    category: str,
    integration_id: int | None = None,
) -> Workflow:
    """A new step at the end of the flow (or outside it, for a discarded step)."""
    step_name = _clean_name(step_name, "step_name", limit=100)
    _check_category(category)
    _check_integration(session, tenant_id, integration_id)
    _check_step_unique(session, tenant_id, integration_id, step_name, None)
    order = None
    if category != "discarded":
        last = session.scalar(
            select(func.max(Workflow.step_order)).where(
                Workflow.tenant_id == tenant_id,
                _same_scope(Workflow.integration_id, integration_id),
            )
        )
        order = (last or 0) + 1
    row = Workflow(
        tenant_id=tenant_id,
        integration_id=integration_id,
        step_name=step_name,
        step_order=order,
        category=category,
        is_commitment_point=False,
        active=True,
    )
    session.add(row)
    session.flush()
    bump_config_version(session, tenant_id)
    return row


def update_step(
    session: Session, tenant_id: int, step_id: int, *, step_name: str, category: str
) -> Workflow | None:
    row = get_step(session, tenant_id, step_id)
    if row is None:
        return None
    step_name = _clean_name(step_name, "step_name", limit=100)
    _check_category(category)
    _check_step_unique(session, tenant_id, row.integration_id, step_name, row.id)
    if row.is_commitment_point and category == "discarded":
        raise EditError("the commitment point cannot be a discarded step", field="category")
    old_name = row.step_name
    row.step_name, row.category = step_name, category
    if category == "discarded":
        row.step_order = None
    elif row.step_order is None:
        last = session.scalar(
            select(func.max(Workflow.step_order)).where(
                Workflow.tenant_id == tenant_id,
                _same_scope(Workflow.integration_id, row.integration_id),
            )
        )
        row.step_order = (last or 0) + 1
    session.flush()
    if old_name != step_name:
        _renumber(session, tenant_id, row.integration_id)
    bump_config_version(session, tenant_id)
    return row


def _ordered_steps(session: Session, tenant_id: int, integration_id: int | None) -> list[Workflow]:
    return list(
        session.scalars(
            select(Workflow)
            .where(
                Workflow.tenant_id == tenant_id,
                _same_scope(Workflow.integration_id, integration_id),
                Workflow.step_order.is_not(None),
            )
            .order_by(Workflow.step_order, Workflow.id)
        )
    )


def _renumber(session: Session, tenant_id: int, integration_id: int | None) -> None:
    for number, step in enumerate(_ordered_steps(session, tenant_id, integration_id), start=1):
        step.step_order = number
    session.flush()


def move_step(session: Session, tenant_id: int, step_id: int, *, offset: int) -> Workflow | None:
    """Move a step `offset` places (-1 earlier, +1 later) within its workflow; the orders are
    renumbered 1..n so they stay gap-free whatever edits came before."""
    row = get_step(session, tenant_id, step_id)
    if row is None:
        return None
    if row.step_order is None:
        raise EditError("a discarded step has no place in the flow", field="step_order")
    steps = _ordered_steps(session, tenant_id, row.integration_id)
    position = next(n for n, s in enumerate(steps) if s.id == row.id)
    target = max(0, min(len(steps) - 1, position + offset))
    steps.insert(target, steps.pop(position))
    for number, step in enumerate(steps, start=1):
        step.step_order = number
    session.flush()
    bump_config_version(session, tenant_id)
    return row


def set_commitment_point(session: Session, tenant_id: int, step_id: int) -> Workflow | None:
    """Make this step its workflow's one commitment point (the previous one stops being it)."""
    row = get_step(session, tenant_id, step_id)
    if row is None:
        return None
    if row.step_order is None or row.category in ("discarded", "done"):
        raise EditError(
            "the commitment point must be an ordered step before done", field="is_commitment_point"
        )
    session.execute(
        update(Workflow)
        .where(
            Workflow.tenant_id == tenant_id,
            _same_scope(Workflow.integration_id, row.integration_id),
            Workflow.is_commitment_point.is_(True),
        )
        .values(is_commitment_point=False)
    )
    session.flush()
    row.is_commitment_point = True
    session.flush()
    bump_config_version(session, tenant_id)
    return row


def step_usage(session: Session, tenant_id: int, step_id: int) -> int:
    """How many status mappings point at this step (a delete must move them first)."""
    return _references(session, StatusMapping.workflow_id, tenant_id, step_id)


def delete_step(
    session: Session, tenant_id: int, step_id: int, *, move_to: int | None = None
) -> int | None:
    """Delete a step, first moving its status mappings to `move_to` when it has any."""
    row = get_step(session, tenant_id, step_id)
    if row is None:
        return None
    if row.is_commitment_point:
        raise EditError(
            "this step is the commitment point: make another step the commitment point first",
            field="move_to",
        )
    used = step_usage(session, tenant_id, step_id)
    if used:
        if move_to is None:
            raise EditError(
                f"{used} status mapping(s) use step {row.step_name!r}: choose where to move them",
                field="move_to",
            )
        target = get_step(session, tenant_id, move_to)
        if target is None or target.id == row.id:
            raise EditError("choose another step", field="move_to")
        _move_references(session, StatusMapping.workflow_id, tenant_id, row.id, target.id)
    scope = row.integration_id
    session.delete(row)
    session.flush()
    _renumber(session, tenant_id, scope)
    bump_config_version(session, tenant_id)
    return used


# --- status mappings ------------------------------------------------------------------------


def get_status_mapping(session: Session, tenant_id: int, mapping_id: int) -> StatusMapping | None:
    return session.scalar(
        select(StatusMapping).where(
            StatusMapping.tenant_id == tenant_id, StatusMapping.id == mapping_id
        )
    )


def find_status_mappings(
    session: Session,
    tenant_id: int,
    *,
    search: str | None = None,
    workflow_id: int | None = None,
    integration_id: int | None = None,
) -> list[StatusMapping]:
    query = select(StatusMapping).where(StatusMapping.tenant_id == tenant_id)
    if search:
        query = query.where(StatusMapping.source_name.ilike(f"%{search.strip()}%"))
    if workflow_id is not None:
        query = query.where(StatusMapping.workflow_id == workflow_id)
    if integration_id is not None:
        query = query.where(StatusMapping.integration_id == integration_id)
    return list(session.scalars(query.order_by(StatusMapping.source_key, StatusMapping.id)))


def _require_step_for(
    session: Session, tenant_id: int, workflow_id: int, integration_id: int | None
) -> Workflow:
    step = get_step(session, tenant_id, workflow_id)
    if step is None:
        raise EditError("choose one of the workflow steps", field="workflow_id")
    if step.integration_id is not None and step.integration_id != integration_id:
        raise EditError("this step belongs to another integration's workflow", field="workflow_id")
    return step


def create_status_mapping(
    session: Session,
    tenant_id: int,
    *,
    source_name: str,
    workflow_id: int,
    integration_id: int | None = None,
) -> StatusMapping:
    source_name = _clean_name(source_name, "source_name", limit=200)
    _check_integration(session, tenant_id, integration_id)
    _require_step_for(session, tenant_id, workflow_id, integration_id)
    key = name_key(source_name)
    _check_source_unique(session, StatusMapping, tenant_id, integration_id, key, None)
    row = StatusMapping(
        tenant_id=tenant_id,
        integration_id=integration_id,
        source_name=source_name,
        source_key=key,
        workflow_id=workflow_id,
        active=True,
    )
    session.add(row)
    session.flush()
    bump_config_version(session, tenant_id)
    return row


def update_status_mapping(
    session: Session,
    tenant_id: int,
    mapping_id: int,
    *,
    source_name: str,
    workflow_id: int,
    active: bool = True,
) -> StatusMapping | None:
    row = get_status_mapping(session, tenant_id, mapping_id)
    if row is None:
        return None
    source_name = _clean_name(source_name, "source_name", limit=200)
    _require_step_for(session, tenant_id, workflow_id, row.integration_id)
    key = name_key(source_name)
    _check_source_unique(session, StatusMapping, tenant_id, row.integration_id, key, row.id)
    row.source_name, row.source_key, row.workflow_id, row.active = (
        source_name,
        key,
        workflow_id,
        active,
    )
    session.flush()
    bump_config_version(session, tenant_id)
    return row


def delete_status_mapping(session: Session, tenant_id: int, mapping_id: int) -> bool:
    row = get_status_mapping(session, tenant_id, mapping_id)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    bump_config_version(session, tenant_id)
    return True


# --- custom fields ----------------------------------------------------------------------------


def list_source_fields(
    session: Session, tenant_id: int, *, integration_id: int | None = None
) -> list[CustomField]:
    """The source field catalog (what the Jira sites offer), custom fields first."""
    query = select(CustomField).where(CustomField.tenant_id == tenant_id)
    if integration_id is not None:
        query = query.where(CustomField.integration_id == integration_id)
    return list(
        session.scalars(query.order_by(CustomField.custom.desc(), CustomField.name, CustomField.id))
    )


def assign_slot(
    session: Session,
    tenant_id: int,
    *,
    integration_id: int,
    slot: str,
    field_external_id: str,
) -> CustomFieldMapping:
    """Fill a slot of an integration with a source field (replacing what filled it)."""
    if slot not in FIELD_SLOTS:
        raise EditError("choose one of the slots", field="slot")
    _check_integration(session, tenant_id, integration_id)
    field_external_id = field_external_id.strip()
    source = session.scalar(
        select(CustomField).where(
            CustomField.tenant_id == tenant_id,
            CustomField.integration_id == integration_id,
            CustomField.external_id == field_external_id,
        )
    )
    if source is None:
        raise EditError("choose a field of this integration's catalog", field="field_external_id")
    row = session.scalar(
        select(CustomFieldMapping).where(
            CustomFieldMapping.tenant_id == tenant_id,
            CustomFieldMapping.integration_id == integration_id,
            CustomFieldMapping.slot == slot,
        )
    )
    if row is None:
        row = CustomFieldMapping(tenant_id=tenant_id, integration_id=integration_id, slot=slot)
        session.add(row)
    row.field_external_id, row.label = source.external_id, source.name[:200]
    session.flush()
    bump_config_version(session, tenant_id)
    return row


def clear_slot(session: Session, tenant_id: int, mapping_id: int) -> bool:
    row = session.scalar(
        select(CustomFieldMapping).where(
            CustomFieldMapping.tenant_id == tenant_id, CustomFieldMapping.id == mapping_id
        )
    )
    if row is None:
        return False
    session.delete(row)
    session.flush()
    bump_config_version(session, tenant_id)
    return True
