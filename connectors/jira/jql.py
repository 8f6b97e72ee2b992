"""JQL the connector sends, in the subset the contract (and the simulator) understands."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

logger = logging.getLogger(__name__)

# The widest UTC offsets in use; with an unknown time zone we widen the window by this much.
_WORST_OFFSET = timedelta(hours=14)
_RESERVED = frozenset({"AND", "OR", "NOT", "IN", "IS", "EMPTY", "NULL", "ORDER", "BY", "WAS"})


def project_clause(projects: Sequence[str]) -> str:
    keys = [f'"{key}"' if key in _RESERVED else key for key in projects]
    if len(keys) == 1:
        return f"project = {keys[0]}"
    return f"project in ({', '.join(keys)})"


def format_jql_datetime(moment: datetime, time_zone: str | None) -> str:
    """`yyyy-MM-dd HH:mm` in the user's time zone (JQL reads dates in it), floored to the minute."""
    try:
        zone = ZoneInfo(time_zone) if time_zone else None
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown Jira time zone %r; widening the window instead", time_zone)
        zone = None
    if zone is None:
        # Reading a UTC time as local could move it forward by up to 14 hours; step back that much.
        moment = moment - _WORST_OFFSET
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def build_jql(
    projects: Sequence[str],
    *,
    extra_jql: str | None = None,
    updated_since: datetime | None = None,
    time_zone: str | None = None,
    order: Literal["updated", "key"] = "updated",
) -> str:
    parts = [project_clause(projects)]
    if extra_jql:
        parts.append(f"({extra_jql})")
    if updated_since is not None:
        parts.append(f'updated >= "{format_jql_datetime(updated_since, time_zone)}"')
    return " AND ".join(parts) + f" ORDER BY {order} ASC"
