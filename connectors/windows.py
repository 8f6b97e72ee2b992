"""How a stream reads the run's `ExtractWindow`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from connectors.base import ExtractWindow
from connectors.records import parse_timestamp

SINCE_BY_SCOPE = "since_by_scope"


def window_since(window: ExtractWindow, scope: str) -> datetime | None:
    """The `since` of one scope.

    When the worker passes per-scope watermarks (`window.options["since_by_scope"]`), a scope's
    own entry wins and a scope missing from it has never finished a run, so it is backfilled
    from `window.since` — the job's chosen start date, or None for everything: a repository
    that appeared or a changed project list starts from the beginning while the others run
    incrementally. Without the mapping every scope uses `window.since`.
    """
    overrides = window.options.get(SINCE_BY_SCOPE)
    value = overrides.get(scope) if isinstance(overrides, Mapping) else None
    if value is None:
        since = window.since
    else:
        since = parse_timestamp(value) if isinstance(value, str) else value
    if since is not None and since.tzinfo is None:
        raise ValueError("ExtractWindow.since must be an aware datetime")
    return since.astimezone(UTC) if since is not None else None


def effective_since(window: ExtractWindow, scope: str, overlap_seconds: int) -> datetime | None:
    """`since` minus the larger of the window's and the integration's overlap."""
    since = window_since(window, scope)
    if since is None:
        return None
    return since - timedelta(seconds=max(window.overlap_seconds, overlap_seconds))
