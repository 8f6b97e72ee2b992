"""The contract between connectors and the extract worker.

A connector exposes its data as `Stream`s. The worker drives one stream page by page: it asks
for the page after a stored cursor, then commits the page's records, the new cursor and the
outbox rows in one transaction. A stream therefore never keeps state between calls: everything
needed to resume lives in the JSON-serialisable cursor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

Cursor = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RawItem:
    """One entity exactly as the source returned it (after merging its overflow pages)."""

    entity: str  # e.g. "jira.issue", "github.pull_request"
    external_id: str
    # The source's updated timestamp (ISO 8601, UTC) or a monotonic revision; entities the
    # source does not version carry the page's fetch time, so that content reverting to an
    # earlier state is still a newer version.
    version: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Page:
    items: list[RawItem]
    next_cursor: Cursor | None  # None: the stream is finished for this run
    total: int | None = None  # the source's own total when it reports one (Jira does)
    requests: int = 1  # HTTP requests this page cost, overflow fetches included
    high_watermark: datetime | None = None  # newest source update seen on this page


@dataclass(frozen=True, slots=True)
class StreamKey:
    """Identifies a stream's checkpoint: (integration, scope, entity)."""

    scope: str  # e.g. "site", "project:ABC", "repo:acme/api"
    entity: str


class Stream(Protocol):
    key: StreamKey

    def fetch_page(self, cursor: Cursor | None) -> Page:
        """Fetch the page after `cursor` (None: the first page). Raises PulseError subclasses."""
        ...


@dataclass(frozen=True, slots=True)
class ExtractWindow:
    """What a run asks for: everything updated since `since` (None: full backfill)."""

    since: datetime | None
    overlap_seconds: int = 300
    options: dict[str, Any] = field(default_factory=dict)
