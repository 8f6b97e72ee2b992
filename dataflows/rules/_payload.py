"""Reading raw payloads: typed access that names the field when a value is missing or wrong,
timestamps as aware UTC, and the lineage columns every emitted row carries."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dataflows.rules.errors import RecordError
from pulse.tenant_config import TenantConfig

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class RecordMeta:
    """Where a raw record came from. `version` is the row version the rule stamps on what it
    emits (the source's updated time in microseconds, or the raw id for untimestamped
    entities); `raw_id` is the lineage back to `raw_records`."""

    entity: str
    external_id: str
    integration_id: int
    raw_id: int
    version: int
    job_run_id: int | None = None

    def error(self, field: str, problem: str) -> RecordError:
        return RecordError(self.entity, self.external_id, field, problem)

    def scope(self, config: TenantConfig) -> Row:
        """The columns of every row: its tenant and integration."""
        return {"tenant_id": config.tenant_id, "integration_id": self.integration_id}

    def versioned(self, config: TenantConfig, version: int | None = None) -> Row:
        """The lineage and version-guard columns of an upserted row (VersionedMixin). A row
        loaded from a fresh record exists at the source, so it is active."""
        return {
            **self.scope(config),
            "raw_id": self.raw_id,
            "version": self.version if version is None else version,
            "config_version": config.config_version,
            "active": True,
        }

    def loaded_fact(self, config: TenantConfig) -> Row:
        """VersionedMixin columns plus LoadedFactMixin's run and (re)appearance at the source."""
        return {**self.versioned(config), "last_job_run_id": self.job_run_id, "deleted_at": None}


def as_dict(value: Any) -> Mapping[str, Any] | None:
    # `type(...) is dict` first: the ABC check alone costs more than the rest of a field read.
    return value if type(value) is dict or isinstance(value, Mapping) else None


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dig(value: Any, *path: str) -> Any:
    """`value[p0][p1]...`, or None as soon as a step is not a mapping."""
    for step in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def opt_text(value: Any) -> str | None:
    """A scalar as text (ids come as numbers or strings); None for null or non-scalars."""
    kind = type(value)
    if kind is str:
        return value
    if value is None or kind is bool or kind is dict or isinstance(value, Mapping | list):
        return None
    return str(value)


def require(meta: RecordMeta, value: Any, field: str) -> Any:
    if value is None or value == "":
        raise meta.error(field, "is missing")
    return value


def require_text(meta: RecordMeta, value: Any, field: str) -> str:
    text = opt_text(require(meta, value, field))
    if text is None:
        raise meta.error(field, f"is not a scalar value: {type(value).__name__}")
    return text


def require_dict(meta: RecordMeta, value: Any, field: str) -> Mapping[str, Any]:
    found = as_dict(require(meta, value, field))
    if found is None:
        raise meta.error(field, f"is not an object: {type(value).__name__}")
    return found


def opt_int(meta: RecordMeta, value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise meta.error(field, f"is not an integer: {value!r}")
    try:
        return int(value)
    except ValueError:
        raise meta.error(field, f"is not an integer: {value!r}") from None


def parse_timestamp(text: str) -> datetime:
    """An ISO-8601 source timestamp as aware UTC. Jira writes `+0800` offsets (no colon, which
    3.11's `fromisoformat` refuses), GitHub and Agile write `Z`. A value without an offset is
    taken as UTC, as the connectors do."""
    text = text.strip().replace("Z", "+00:00")
    if len(text) >= 5 and text[-5] in "+-" and text[-4:].isdigit() and "T" in text:
        text = f"{text[:-2]}:{text[-2:]}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def opt_time(meta: RecordMeta, value: Any, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise meta.error(field, f"is not a timestamp: {value!r}")
    try:
        return parse_timestamp(value)
    except ValueError:
        raise meta.error(field, f"is not a timestamp: {value!r}") from None


def require_time(meta: RecordMeta, value: Any, field: str) -> datetime:
    moment = opt_time(meta, require(meta, value, field), field)
    assert moment is not None  # require() refused None and ""
    return moment


def whole_seconds(start: datetime, end: datetime) -> int:
    """Whole seconds from start to end; never negative (out-of-order source clocks)."""
    return max(0, int((end - start).total_seconds()))


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def clip(text: str | None, limit: int) -> str | None:
    """Fit free-form display text into a bounded column (a longer value would fail the whole
    batch's load); the cut is marked so nobody mistakes it for the full value."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
