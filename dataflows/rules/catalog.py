"""The source catalog: Jira projects, issue types, statuses, fields and sprints; GitHub
repositories. Types and statuses carry their mapping as resolved now (NULL while unmapped)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dataflows.rules._payload import (
    RecordMeta,
    Row,
    as_dict,
    dig,
    opt_int,
    opt_text,
    opt_time,
    require_text,
)
from dataflows.rules.sprints import sprint_row
from pulse.tenant_config import TenantConfig

__all__ = [
    "map_field",
    "map_issue_type",
    "map_project",
    "map_repository",
    "map_sprint",
    "map_status",
]


def map_project(payload: Mapping[str, Any], config: TenantConfig, meta: RecordMeta) -> Row:
    return {
        **meta.versioned(config),
        "external_id": require_text(meta, payload.get("id"), "id"),
        "key": require_text(meta, payload.get("key"), "key"),
        "name": require_text(meta, payload.get("name"), "name"),
        "project_type": opt_text(payload.get("projectTypeKey")),
    }


def map_issue_type(payload: Mapping[str, Any], config: TenantConfig, meta: RecordMeta) -> Row:
    name = require_text(meta, payload.get("name"), "name")
    target = config.resolve_type(meta.integration_id, name)
    return {
        **meta.versioned(config),
        "external_id": require_text(meta, payload.get("id"), "id"),
        "name": name,
        "description": opt_text(payload.get("description")) or None,
        "subtask": bool(payload.get("subtask")),
        "source_hierarchy_level": opt_int(meta, payload.get("hierarchyLevel"), "hierarchyLevel"),
        "canonical_type": target.canonical_type if target else None,
        "hierarchy_level": target.hierarchy_level if target else None,
    }


def map_status(payload: Mapping[str, Any], config: TenantConfig, meta: RecordMeta) -> Row:
    """One row per status id. The connector reads statuses per project and adds `projectKey`;
    the record's own external id is `<project>:<id>`, the row's is the status id, so the
    loader should union `project_keys` when the same status arrives from several projects."""
    name = require_text(meta, payload.get("name"), "name")
    step = config.resolve_status(meta.integration_id, name)
    category = as_dict(payload.get("statusCategory")) or {}
    project = opt_text(payload.get("projectKey"))
    return {
        **meta.versioned(config),
        "external_id": require_text(meta, payload.get("id"), "id"),
        "name": name,
        "description": opt_text(payload.get("description")) or None,
        "category_key": opt_text(category.get("key")),
        "category_name": opt_text(category.get("name")),
        "project_keys": [project] if project else [],
        "workflow_step": step.name if step else None,
        "step_category": step.category if step else None,
    }


def map_field(payload: Mapping[str, Any], config: TenantConfig, meta: RecordMeta) -> Row:
    schema = as_dict(payload.get("schema"))
    return {
        **meta.versioned(config),
        "external_id": require_text(meta, payload.get("id"), "id"),
        "name": require_text(meta, payload.get("name"), "name"),
        "custom": bool(payload.get("custom")),
        "field_type": opt_text(schema.get("type")) if schema else None,
        "schema": dict(schema) if schema else None,
    }


def map_sprint(payload: Mapping[str, Any], config: TenantConfig, meta: RecordMeta) -> Row:
    """A sprint from the Agile API (`board/{id}/sprint`)."""
    return sprint_row(payload, config, meta, "sprint")


def map_repository(payload: Mapping[str, Any], config: TenantConfig, meta: RecordMeta) -> Row:
    """A GraphQL repository node (`OrgRepositories`)."""
    full_name = require_text(meta, payload.get("nameWithOwner"), "nameWithOwner")
    owner, _, short_name = full_name.partition("/")
    visibility = opt_text(payload.get("visibility"))
    return {
        **meta.versioned(config),
        "external_id": require_text(meta, payload.get("id"), "id"),
        "database_id": opt_int(meta, payload.get("databaseId"), "databaseId"),
        "name": opt_text(payload.get("name")) or short_name,
        "full_name": full_name,
        "owner": opt_text(dig(payload, "owner", "login")) or owner,
        "description": opt_text(payload.get("description")) or None,
        "url": opt_text(payload.get("url")),
        "language": opt_text(dig(payload, "primaryLanguage", "name")),
        "default_branch": opt_text(dig(payload, "defaultBranchRef", "name")),
        "visibility": visibility.lower() if visibility else None,
        "is_private": bool(payload.get("isPrivate")),
        "archived": bool(payload.get("isArchived")),
        "fork": bool(payload.get("isFork")),
        "source_created_at": opt_time(meta, payload.get("createdAt"), "createdAt"),
        "source_updated_at": opt_time(meta, payload.get("updatedAt"), "updatedAt"),
        "pushed_at": opt_time(meta, payload.get("pushedAt"), "pushedAt"),
    }
