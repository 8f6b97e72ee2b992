"""One root error for the whole product, classified the way operators act on it.

* retriable: try the same call again later (429, 5xx, timeouts, a broker hiccup);
* fatal: stop the run and show the message (bad credentials, a misconfiguration);
* skippable: record it and carry on (an optional entity that is gone at the source).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    RETRIABLE = "retriable"
    FATAL = "fatal"
    SKIPPABLE = "skippable"


class PulseError(Exception):
    """Root error. `context` holds structured identifiers (tenant, integration, run, entity key)."""

    kind: ErrorKind = ErrorKind.FATAL

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        if not self.context:
            return self.message
        details = ", ".join(f"{k}={v!r}" for k, v in sorted(self.context.items()))
        return f"{self.message} ({details})"


class RetriableError(PulseError):
    kind = ErrorKind.RETRIABLE

    def __init__(self, message: str, *, retry_after: float | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class FatalError(PulseError):
    kind = ErrorKind.FATAL


class SkippableError(PulseError):
    kind = ErrorKind.SKIPPABLE


class RateLimitedError(RetriableError):
    """The credential's budget is spent until `resume_at`; the job waits instead of failing."""

    def __init__(self, message: str, *, resume_at: datetime, **context: Any) -> None:
        super().__init__(message, **context)
        self.resume_at = resume_at


class ConfigurationError(FatalError):
    """A setting or an integration's configuration is wrong; the message names it."""
