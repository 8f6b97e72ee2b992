"""The answer of a connector's `test_connection()`: short enough to show next to a form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    ok: bool
    message: str  # one human sentence, never a secret
    details: dict[str, Any] = field(default_factory=dict)  # e.g. {"time_zone": "Asia/Shanghai"}
    retriable: bool = False  # a failure that may pass on a later try (timeouts, 5xx, limits)
