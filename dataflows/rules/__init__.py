"""Pure transform rules: raw source records + a tenant's configuration → rows of the normalized
model. No Bytewax, database or network here; the dataflows wire these functions.

Rows are plain dicts keyed by the target table's column names (never `id`, `created_at`,
`updated_at`). Child rows (transitions, sprint memberships, PR commits/reviews/comments) carry
their parent's natural key (`work_item_external_id` / `pull_request_external_id`) instead of
the database id; the loader resolves it.

`version`: the source's updated time in microseconds for timestamped entities (issues, pull
requests, repositories), else the raw record id (Jira catalog entities, boards, sprints,
dev-status), so within each table versions always compare like with like.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dataflows.rules._payload import RecordMeta, Row
from dataflows.rules.adf import adf_to_text, rich_text
from dataflows.rules.catalog import (
    map_field,
    map_issue_type,
    map_project,
    map_repository,
    map_sprint,
    map_status,
)
from dataflows.rules.errors import RecordError
from dataflows.rules.github_pr import PullRequestBundle, map_pull_request, pull_request_text
from dataflows.rules.jira_issue import WorkItemBundle, map_issue, work_item_text
from dataflows.rules.links import extract_issue_keys, map_dev_status, parse_pull_url
from dataflows.rules.transitions import Transition, status_transitions, transition_rows
from dataflows.rules.workflow_metrics import WorkflowMetrics, compute_workflow_metrics
from pulse.messages import MessageError, version_micros
from pulse.tenant_config import TenantConfig

__all__ = [
    "ENTITIES",
    "PullRequestBundle",
    "RecordError",
    "RecordMeta",
    "TransformOutput",
    "Transition",
    "WorkItemBundle",
    "WorkflowMetrics",
    "adf_to_text",
    "compute_workflow_metrics",
    "extract_issue_keys",
    "map_dev_status",
    "map_field",
    "map_issue",
    "map_issue_type",
    "map_project",
    "map_pull_request",
    "map_repository",
    "map_sprint",
    "map_status",
    "parse_pull_url",
    "pull_request_text",
    "rich_text",
    "status_transitions",
    "transform_record",
    "transition_rows",
    "work_item_text",
]

# Entities whose source gives no updated time: their version is the raw record id.
_RAW_ID_VERSIONED = frozenset(
    {
        "jira.field",
        "jira.project",
        "jira.issue_type",
        "jira.status",
        "jira.board",
        "jira.sprint",
        "jira.dev_status",
    }
)
_SOURCE_VERSIONED = frozenset({"jira.issue", "github.repository", "github.pull_request"})
ENTITIES = _RAW_ID_VERSIONED | _SOURCE_VERSIONED


@dataclass(slots=True)
class TransformOutput:
    """Rows grouped by table name, and the unmapped source names this record carries."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    unmapped_types: frozenset[str] = frozenset()
    unmapped_statuses: frozenset[str] = frozenset()

    def add(self, table: str, rows: list[Row]) -> None:
        if rows:
            self.rows.setdefault(table, []).extend(rows)


def _row_version(entity: str, external_id: str, raw_id: int, version: str | int) -> int:
    if entity in _RAW_ID_VERSIONED:
        return raw_id
    if isinstance(version, int) and not isinstance(version, bool):
        return version
    try:
        return version_micros(str(version))
    except MessageError as exc:
        raise RecordError(entity, external_id, "version", f"is invalid: {exc}") from None


def transform_record(
    entity: str,
    raw_id: int,
    external_id: str,
    version: str | int,
    payload: Any,
    config: TenantConfig,
    integration_id: int,
    job_run_id: int | None,
) -> TransformOutput:
    """Transform one raw record. Raises `RecordError` for an unknown entity or a malformed
    payload (the message names the entity, the external id and the field); the dataflow
    dead-letters the record. `version` is the record's source version (ISO timestamp or a
    revision; an int is taken as already converted)."""
    if entity not in ENTITIES:
        raise RecordError(entity, external_id, "entity", "is not an entity the rules know")
    if not isinstance(payload, Mapping):
        raise RecordError(entity, external_id, "payload", "is not a JSON object")
    meta = RecordMeta(
        entity=entity,
        external_id=external_id,
        integration_id=integration_id,
        raw_id=raw_id,
        version=_row_version(entity, external_id, raw_id, version),
        job_run_id=job_run_id,
    )
    try:
        return _dispatch(entity, payload, config, meta)
    except RecordError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # A payload shape no rule anticipated: dead-letter this record (with the cause) rather
        # than crash the dataflow, which would replay and crash on it forever.
        raise RecordError(
            entity, external_id, "payload", f"could not be transformed: {exc!r}"
        ) from exc


def _dispatch(
    entity: str, payload: Mapping[str, Any], config: TenantConfig, meta: RecordMeta
) -> TransformOutput:
    out = TransformOutput()
    if entity == "jira.issue":
        bundle = map_issue(payload, config, meta)
        out.add("work_items", [bundle.work_item])
        out.add("work_item_transitions", bundle.transitions)
        out.add("sprints", bundle.sprints)
        out.add("work_item_sprints", bundle.work_item_sprints)
        out.unmapped_types = bundle.unmapped_types
        out.unmapped_statuses = bundle.unmapped_statuses
    elif entity == "github.pull_request":
        pr = map_pull_request(payload, config, meta)
        out.add("pull_requests", [pr.pull_request])
        out.add("pr_commits", pr.commits)
        out.add("pr_reviews", pr.reviews)
        out.add("pr_comments", pr.comments)
        out.add("work_item_pr_links", pr.links)
    elif entity == "jira.issue_type":
        row = map_issue_type(payload, config, meta)
        out.add("work_item_types", [row])
        if row["canonical_type"] is None:
            out.unmapped_types = frozenset({row["name"]})
    elif entity == "jira.status":
        row = map_status(payload, config, meta)
        out.add("statuses", [row])
        if row["workflow_step"] is None:
            out.unmapped_statuses = frozenset({row["name"]})
    elif entity == "jira.project":
        out.add("projects", [map_project(payload, config, meta)])
    elif entity == "jira.field":
        out.add("custom_fields", [map_field(payload, config, meta)])
    elif entity == "jira.sprint":
        out.add("sprints", [map_sprint(payload, config, meta)])
    elif entity == "jira.dev_status":
        out.add("work_item_pr_links", map_dev_status(payload, config, meta))
    elif entity == "github.repository":
        out.add("repositories", [map_repository(payload, config, meta)])
    # jira.board: boards only feed the sprint stream; nothing to load.
    return out
