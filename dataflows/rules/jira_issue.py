"""Jira issue → work item, with its status transitions, the sprints seen in its sprint field and
its sprint memberships.

Type and status go through the tenant's mappings. An unmapped type or status never drops the
item: it loads with the source name (`type_name` falls back to it), `type_mapped` /
`status_mapped` False, and the names are reported so the UI can offer a mapping.

Hierarchy: `parent_key` is `fields.parent` (a sub-task's parent, or the epic of a team-managed
or re-parented issue). `epic_key` is the parent when the parent is an epic (Jira hierarchy level
1, a type named Epic, or a type mapped to the canonical type Epic), else the Agile API's
`fields.epic`, else the field mapped to the `epic_link` slot (company-managed "Epic Link").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dataflows.rules._payload import (
    RecordMeta,
    Row,
    as_dict,
    as_list,
    clip,
    dig,
    opt_text,
    opt_time,
    require_dict,
    require_text,
    require_time,
    sha256_hex,
)
from dataflows.rules.adf import rich_text
from dataflows.rules.field_values import development_flag, display_value, story_points
from dataflows.rules.sprints import sprint_memberships, sprint_objects, sprint_row
from dataflows.rules.transitions import status_transitions, transition_rows
from dataflows.rules.workflow_metrics import compute_workflow_metrics
from pulse.tenant_config import TenantConfig

__all__ = ["CUSTOM_SLOTS", "WorkItemBundle", "map_issue", "work_item_text"]

CUSTOM_SLOTS = tuple(f"custom_{n:02d}" for n in range(1, 21))
_SLOT_TEXT_LIMIT = 1000  # custom_NN columns are VARCHAR(1000)
_TEAM_LIMIT = 300


@dataclass(frozen=True, slots=True)
class WorkItemBundle:
    work_item: Row
    transitions: list[Row]
    sprints: list[Row]
    work_item_sprints: list[Row]
    unmapped_types: frozenset[str]
    unmapped_statuses: frozenset[str]  # the current status and any status in the history


def work_item_text(row: Mapping[str, Any]) -> str:
    """The text embedded for a work item; `content_hash` is its sha256, so a changed hash is
    exactly "this item needs a new vector"."""
    head = f"{row['key']} [{row.get('type_name') or ''}] {row.get('summary') or ''}"
    parts = [head.strip(), f"Status: {row.get('source_status') or ''}"]
    if row.get("labels"):
        parts.append("Labels: " + ", ".join(row["labels"]))
    if row.get("description"):
        parts.append("")
        parts.append(str(row["description"]))
    return "\n".join(parts)


def _full_histories(payload: Mapping[str, Any], meta: RecordMeta) -> list[Any]:
    """The changelog, refusing partial ones: metrics from part of the history are wrong."""
    changelog = as_dict(payload.get("changelog"))
    if changelog is None:
        raise meta.error("changelog", "is missing (the issue must be read with its changelog)")
    histories = as_list(changelog.get("histories"))
    total = changelog.get("total")
    if isinstance(total, int) and total > len(histories):
        raise meta.error(
            "changelog.histories", f"holds {len(histories)} of {total} histories (truncated)"
        )
    return histories


def _is_epic(parent: Mapping[str, Any], config: TenantConfig, integration_id: int) -> bool:
    issuetype = as_dict(dig(parent, "fields", "issuetype")) or {}
    if issuetype.get("hierarchyLevel") == 1:
        return True
    name = opt_text(issuetype.get("name"))
    target = config.resolve_type(integration_id, name)
    return bool(name and name.casefold() == "epic") or bool(
        target and target.canonical_type.casefold() == "epic"
    )


def _epic_key(fields: Mapping[str, Any], slots: Mapping[str, str]) -> str | None:
    epic = as_dict(fields.get("epic"))
    if epic is not None and opt_text(epic.get("key")):
        return opt_text(epic.get("key"))
    link_field = slots.get("epic_link")
    return opt_text(fields.get(link_field)) if link_field else None


def map_issue(
    payload: Mapping[str, Any],
    config: TenantConfig,
    meta: RecordMeta,
    *,
    as_of: datetime | None = None,
) -> WorkItemBundle:
    """Map one issue (with its complete changelog). `as_of` ends the current status interval
    for the metrics; by default the item's resolution time (see `workflow_metrics`)."""
    integration = meta.integration_id
    issue_id = require_text(meta, payload.get("id"), "id")
    key = require_text(meta, payload.get("key"), "key")
    fields = require_dict(meta, payload.get("fields"), "fields")
    created = require_time(meta, fields.get("created"), "fields.created")
    resolved = opt_time(meta, fields.get("resolutiondate"), "fields.resolutiondate")
    issuetype = require_dict(meta, fields.get("issuetype"), "fields.issuetype")
    source_type = require_text(meta, issuetype.get("name"), "fields.issuetype.name")
    status = require_dict(meta, fields.get("status"), "fields.status")
    source_status = require_text(meta, status.get("name"), "fields.status.name")
    histories = _full_histories(payload, meta)

    type_target = config.resolve_type(integration, source_type)
    step = config.resolve_status(integration, source_status)
    transitions = status_transitions(histories, created_at=created, config=config, meta=meta)
    metrics = compute_workflow_metrics(
        transitions,
        created_at=created,
        initial_step=transitions[0].from_step if transitions else step,
        commitment=config.commitment_step(integration),
        as_of=as_of if as_of is not None else resolved,
    )

    slots = config.slots(integration)
    points_field = slots.get("story_points")
    team_field = slots.get("team")
    parent = as_dict(fields.get("parent"))
    parent_key = opt_text(parent.get("key")) if parent else None
    epic_key = (
        parent_key
        if parent is not None and _is_epic(parent, config, integration)
        else _epic_key(fields, slots)
    )
    assignee = as_dict(fields.get("assignee")) or {}
    row: Row = {
        **meta.loaded_fact(config),
        "external_id": issue_id,
        "key": key,
        "project_key": opt_text(dig(fields, "project", "key")),
        "summary": opt_text(fields.get("summary")),
        "description": rich_text(fields.get("description")),
        "source_type": source_type,
        "type_name": type_target.canonical_type if type_target else source_type,
        "hierarchy_level": type_target.hierarchy_level if type_target else None,
        "type_mapped": type_target is not None,
        "source_status": source_status,
        "source_status_category": opt_text(dig(status, "statusCategory", "key")),
        "workflow_step": step.name if step else None,
        "step_category": step.category if step else None,
        "status_mapped": step is not None,
        "parent_key": parent_key,
        "epic_key": epic_key,
        "priority": opt_text(dig(fields, "priority", "name")),
        "resolution": opt_text(dig(fields, "resolution", "name")),
        "assignee": opt_text(assignee.get("displayName")),
        "assignee_account_id": opt_text(assignee.get("accountId")),
        "reporter": opt_text(dig(fields, "reporter", "displayName")),
        "labels": [str(label) for label in as_list(fields.get("labels")) if label],
        "team": clip(display_value(fields.get(team_field)), _TEAM_LIMIT) if team_field else None,
        "story_points": (
            story_points(fields.get(points_field), meta, f"fields.{points_field}")
            if points_field
            else None
        ),
        "development": development_flag(fields, slots.get("development")),
        "source_created_at": created,
        "source_updated_at": opt_time(meta, fields.get("updated"), "fields.updated"),
        "resolved_at": resolved,
        **metrics.columns(),
    }
    for slot in CUSTOM_SLOTS:
        field_id = slots.get(slot)
        value = display_value(fields.get(field_id)) if field_id else None
        row[slot] = clip(value, _SLOT_TEXT_LIMIT)
    row["content_hash"] = sha256_hex(work_item_text(row))

    sprint_field = slots.get("sprints")
    sprints = [
        sprint_row(s, config, meta, f"fields.{sprint_field}[{n}]")
        for n, s in enumerate(sprint_objects(fields.get(sprint_field) if sprint_field else None))
    ]
    memberships = (
        sprint_memberships(
            [s["external_id"] for s in sprints],
            histories,
            sprint_field_id=sprint_field,
            created_at=created,
            scope=meta.scope(config),
            work_item_external_id=issue_id,
            meta=meta,
        )
        if sprint_field
        else []
    )
    unmapped_statuses = {source_status} if step is None else set()
    for t in transitions:
        if t.from_step is None and t.from_status:
            unmapped_statuses.add(t.from_status)
        if t.to_step is None:
            unmapped_statuses.add(t.to_status)
    return WorkItemBundle(
        work_item=row,
        transitions=transition_rows(transitions, meta.scope(config), issue_id),
        sprints=sprints,
        work_item_sprints=memberships,
        unmapped_types=frozenset() if type_target else frozenset({source_type}),
        unmapped_statuses=frozenset(unmapped_statuses),
    )
