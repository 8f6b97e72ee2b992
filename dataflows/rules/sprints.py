"""Sprints, from the Agile API and from issues' sprint field, and an issue's sprint membership.

The sprint field holds objects on Cloud (`{id, name, state, boardId, goal, startDate, ...}`)
and `com.atlassian.greenhopper.service.sprint.Sprint@1f[id=1,rapidViewId=2,state=CLOSED,...]`
strings on old Server/DC versions; both are read.

Membership comes from the issue's changelog ("Sprint" items whose `from`/`to` hold sprint ids):
`added_at` is the last time the sprint was added, or the item's creation when the sprint was
already set before its first recorded change (or never changed); `removed_at` is the last
removal when it came after the last add. Sprints the item was moved out of keep a row with
`removed_at` (carry-over and scope-change analysis needs them); a sprint still in the field is
a current membership and has no `removed_at`, whatever the changelog says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from dataflows.rules._payload import (
    RecordMeta,
    Row,
    as_dict,
    as_list,
    opt_text,
    opt_time,
    require_text,
)
from pulse.tenant_config import TenantConfig

__all__ = ["sprint_memberships", "sprint_objects", "sprint_row"]

_LEGACY = re.compile(r"\[(.*)\]\s*$", re.DOTALL)
_LEGACY_SPLIT = re.compile(r",(?=[A-Za-z]+=)")


def _legacy_sprint(text: str) -> dict[str, Any] | None:
    match = _LEGACY.search(text)
    if match is None:
        return None
    out: dict[str, Any] = {}
    for part in _LEGACY_SPLIT.split(match.group(1)):
        name, _, value = part.partition("=")
        out[name] = None if value in ("<null>", "") else value
    return out


def sprint_objects(value: Any) -> list[Mapping[str, Any]]:
    """The sprints in a sprint-field value, as objects."""
    found: list[Mapping[str, Any]] = []
    for entry in as_list(value):
        if isinstance(entry, str):
            parsed = _legacy_sprint(entry)
            if parsed is not None:
                found.append(parsed)
        elif isinstance(entry, Mapping):
            found.append(entry)
    return found


def sprint_row(
    sprint: Mapping[str, Any],
    config: TenantConfig,
    meta: RecordMeta,
    field: str = "sprint",
    *,
    version: int | None = None,
) -> Row:
    """A `sprints` row. Sprints are not timestamped by Jira: the version is the raw id of the
    record the sprint was read from (an Agile sprint or an issue), so the newest read wins."""
    state = opt_text(sprint.get("state"))
    board = sprint.get("originBoardId") or sprint.get("boardId") or sprint.get("rapidViewId")
    return {
        **meta.versioned(config, meta.raw_id if version is None else version),
        "external_id": require_text(meta, sprint.get("id"), f"{field}.id"),
        "board_external_id": opt_text(board),
        "name": require_text(meta, sprint.get("name"), f"{field}.name"),
        "state": state.lower() if state else None,
        "goal": opt_text(sprint.get("goal")) or None,
        "start_at": opt_time(meta, sprint.get("startDate"), f"{field}.startDate"),
        "end_at": opt_time(meta, sprint.get("endDate"), f"{field}.endDate"),
        "complete_at": opt_time(meta, sprint.get("completeDate"), f"{field}.completeDate"),
    }


def _ids(value: Any) -> set[str]:
    return {part.strip() for part in str(value or "").split(",") if part.strip()}


def sprint_memberships(
    current: Iterable[str],
    histories: Iterable[Any],
    *,
    sprint_field_id: str | None,
    created_at: datetime,
    scope: Row,
    work_item_external_id: str,
    meta: RecordMeta,
) -> list[Row]:
    """`work_item_sprints` rows for the sprints an item is in (`current` ids) or has been in."""
    changes: list[tuple[datetime, set[str], set[str]]] = []
    for raw in histories:
        history = as_dict(raw) or {}
        for item in (as_dict(i) or {} for i in as_list(history.get("items"))):
            by_id = sprint_field_id is not None and item.get("fieldId") == sprint_field_id
            if not (by_id or str(item.get("field", "")).casefold() == "sprint"):
                continue
            field = f"changelog.histories[id={history.get('id')}].created"
            when = opt_time(meta, history.get("created"), field)
            if when is not None:
                changes.append((when, _ids(item.get("from")), _ids(item.get("to"))))
    changes.sort(key=lambda change: change[0])

    added: dict[str, datetime] = {}
    removed: dict[str, datetime] = {}
    for when, before, after in changes:
        for sprint in before - after:
            removed[sprint] = when
            added.setdefault(sprint, created_at)  # in the field before any recorded change
        for sprint in after - before:
            added[sprint] = when
    current_ids = list(dict.fromkeys(current))
    rows: list[Row] = []
    for sprint in dict.fromkeys([*current_ids, *added]):
        added_at = added.get(sprint, created_at)
        removed_at = removed.get(sprint)
        if sprint in current_ids or (removed_at is not None and removed_at < added_at):
            removed_at = None
        rows.append(
            {
                **scope,
                "work_item_external_id": work_item_external_id,
                "sprint_external_id": sprint,
                "added_at": added_at,
                "removed_at": removed_at,
            }
        )
    return rows
