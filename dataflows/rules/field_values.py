"""Values of the Jira fields the tenant maps into slots (team, story points, development,
custom_01..custom_20), as display text, numbers and flags."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from dataflows.rules._payload import RecordMeta
from dataflows.rules.adf import adf_to_text

__all__ = ["development_flag", "display_value", "story_points"]

# Keys that name an option, user, team, version or component, most specific first.
_NAME_KEYS = ("displayName", "name", "value", "title", "key")
_EMPTY_DEVELOPMENT = frozenset({"", "{}", "[]"})


def display_value(value: Any) -> str | None:
    """Text for a field value: objects by their display name (a cascading select as
    "parent / child"), lists comma-joined, ADF rich text rendered, scalars as text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, list):
        parts = [display_value(v) for v in value]
        joined = ", ".join(p for p in parts if p)
        return joined or None
    if isinstance(value, Mapping):
        if value.get("type") == "doc":
            return adf_to_text(value) or None
        name = next((value[k] for k in _NAME_KEYS if value.get(k) not in (None, "")), None)
        if name is None:
            return None
        child = display_value(value.get("child"))
        return f"{name} / {child}" if child else str(name)
    return str(value)


def story_points(value: Any, meta: RecordMeta, field: str) -> float | None:
    """A number, or a numeric string (some sites store points as text)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise meta.error(field, f"(story points) is not a number: {value!r}")
    try:
        points = float(value)
    except (TypeError, ValueError):
        raise meta.error(field, f"(story points) is not a number: {value!r}") from None
    if not math.isfinite(points):
        raise meta.error(field, f"(story points) is not a finite number: {value!r}")
    return points


def development_flag(fields: Mapping[str, Any], field_id: str | None) -> bool | None:
    """Whether the issue has development data (branches, commits, pull requests).

    None when no development field is mapped or the payload does not carry it (unknown);
    False for an empty value (Jira answers the string "{}" when there is nothing)."""
    if field_id is None or field_id not in fields:
        return None
    value = fields[field_id]
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip() not in _EMPTY_DEVELOPMENT
    if isinstance(value, (Mapping, list)):
        return bool(value)
    return bool(value)
