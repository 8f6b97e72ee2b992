"""Helpers that turn source payloads into `RawItem` fields: timestamps and versions."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any


def parse_timestamp(value: str) -> datetime:
    """Parse a source timestamp into an aware UTC datetime.

    Jira writes `2024-03-01T10:15:30.123+0800` (no colon in the offset), GitHub writes
    `2024-03-01T02:15:30Z`; a value without an offset is taken as UTC.
    """
    text = value.strip().replace("Z", "+00:00")
    if len(text) >= 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"  # +0800 -> +08:00 (3.11's fromisoformat needs it)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def utc_version(value: str | datetime) -> str:
    """The canonical version string: UTC ISO 8601 with milliseconds, so versions sort as text."""
    moment = parse_timestamp(value) if isinstance(value, str) else value.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")


def fetch_version(fetched_at: datetime) -> str:
    """The version of an entity the source does not version: the time of the fetch. Storage
    keeps a fetch only when its content changed, so this still stores A -> B -> A reverts."""
    return utc_version(fetched_at)


def content_hash(payload: Any) -> str:
    """A short stable hash of a payload's canonical JSON (scope names, change detection)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
