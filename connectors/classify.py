"""Map one HTTP outcome (a response or a transport error) to a Pulse error, or to None on success.

This is the single place that decides whether a failure is retriable, fatal or skippable and how
long the server asked us to wait. It is pure: the caller passes the parsed body and the clock.
Rate limits come back as `RateLimitedError` carrying the wait; the client decides whether to sleep
in place (a short wait) or hand the wait to the job layer (a long one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from pulse.errors import FatalError, PulseError, RateLimitedError, RetriableError, SkippableError

# GitHub asks clients to wait at least a minute after a secondary limit without `retry-after`.
_SECONDARY_DEFAULT_WAIT = 60.0
_GRAPHQL_RETRIABLE_HINTS = ("timeout", "timed out", "something went wrong")
_MAX_DETAIL = 300


class _Unparsed:
    """Marker: the caller did not parse the body, `classify_outcome` parses it itself."""


UNPARSED: Any = _Unparsed()
INVALID_JSON: Any = object()  # the body was not valid JSON (truncated, HTML error page, ...)


@dataclass(frozen=True, slots=True)
class RateLimitHeaders:
    """What a response said about the credential's budget."""

    remaining: int | None
    reset_at: datetime | None
    retry_after: float | None  # seconds


def parse_body(response: httpx.Response) -> Any:
    """The JSON body, None for an empty body, or `INVALID_JSON`."""
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return INVALID_JSON


def rate_limit_headers(headers: Mapping[str, str], now: datetime) -> RateLimitHeaders:
    """Read `Retry-After` and `X-RateLimit-*` (Jira: ISO 8601 reset; GitHub: epoch seconds)."""
    return RateLimitHeaders(
        remaining=_int_or_none(headers.get("x-ratelimit-remaining")),
        reset_at=parse_reset(headers.get("x-ratelimit-reset")),
        retry_after=parse_retry_after(headers.get("retry-after"), now),
    )


def parse_reset(value: str | None) -> datetime | None:
    if not value:
        return None
    value = value.strip()
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` is either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def classify_outcome(
    outcome: httpx.Response | httpx.HTTPError,
    *,
    integration: str,
    credential: str,
    body: Any = UNPARSED,
    optional: bool = False,
    graphql: bool = False,
    now: datetime | None = None,
    secrets: Sequence[str] = (),
) -> PulseError | None:
    """Classify one outcome. None means success; otherwise the error to raise or retry on.

    `credential` names the credential kind ("API token", "personal access token") for 401/403
    messages; `secrets` are scrubbed from any text copied out of the server's answer.
    """
    now = now or datetime.now(UTC)
    if isinstance(outcome, httpx.HTTPError):
        return _transport_error(outcome, integration)
    response = outcome
    if body is UNPARSED:
        body = parse_body(response)
    context: dict[str, Any] = {
        "integration": integration,
        "status": response.status_code,
        "request": _request_label(response),
    }
    status = response.status_code
    limits = rate_limit_headers(response.headers, now)
    if 200 <= status < 300:
        if body is INVALID_JSON:
            return RetriableError(f"{integration} returned truncated or invalid JSON", **context)
        if graphql:
            return _graphql_errors(body, limits, integration, optional, now, secrets, context)
        return None
    detail = redact(_detail(body), secrets)
    if status == 401:
        return FatalError(
            f"{integration} rejected the {credential} (HTTP 401): check that it is valid and not "
            "expired or revoked",
            **context,
        )
    if status in (403, 429):
        limited = _rate_limited(status, limits, detail, integration, now, context)
        if limited is not None:
            return limited
    if status == 403:
        return FatalError(
            f"{integration} refused the request with the {credential} (HTTP 403): it lacks "
            f"permission{_suffix(detail)}",
            **context,
        )
    if status == 429:
        return RetriableError(f"{integration} is rate limiting requests (HTTP 429)", **context)
    if status == 404:
        cls = SkippableError if optional else FatalError
        return cls(f"{integration} has no such resource (HTTP 404){_suffix(detail)}", **context)
    if status == 408 or status >= 500:
        return RetriableError(
            f"{integration} failed with HTTP {status}{_suffix(detail)}",
            retry_after=limits.retry_after,
            **context,
        )
    return FatalError(
        f"{integration} rejected the request (HTTP {status}){_suffix(detail)}", **context
    )


def _transport_error(exc: httpx.HTTPError, integration: str) -> PulseError:
    if isinstance(exc, httpx.TimeoutException):
        return RetriableError(
            f"{integration} did not answer in time ({type(exc).__name__})", integration=integration
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return FatalError(
            f"{integration} URL is not usable ({type(exc).__name__})", integration=integration
        )
    # Connection resets and bodies cut short in transfer: the same request may well succeed.
    return RetriableError(
        f"{integration} connection failed ({type(exc).__name__})", integration=integration
    )


def _rate_limited(
    status: int,
    limits: RateLimitHeaders,
    detail: str,
    integration: str,
    now: datetime,
    context: dict[str, Any],
) -> RateLimitedError | None:
    lowered = detail.lower()
    secondary = "secondary rate limit" in lowered or "abuse" in lowered
    if status == 403 and limits.remaining == 0 and not secondary:
        # Primary limit: wait until the window resets.
        resume_at = limits.reset_at or now + timedelta(seconds=_SECONDARY_DEFAULT_WAIT)
        return _limited(f"{integration} rate limit is spent (HTTP 403)", resume_at, now, context)
    if limits.retry_after is not None:
        resume_at = now + timedelta(seconds=limits.retry_after)
        return _limited(
            f"{integration} asked us to slow down (HTTP {status})", resume_at, now, context
        )
    if secondary or (status == 403 and "rate limit" in lowered):
        resume_at = now + timedelta(seconds=_SECONDARY_DEFAULT_WAIT)
        return _limited(
            f"{integration} secondary rate limit hit (HTTP {status})", resume_at, now, context
        )
    if status == 429 and limits.reset_at is not None:
        return _limited(
            f"{integration} is rate limiting requests (HTTP 429)", limits.reset_at, now, context
        )
    return None


def _graphql_errors(
    body: Any,
    limits: RateLimitHeaders,
    integration: str,
    optional: bool,
    now: datetime,
    secrets: Sequence[str],
    context: dict[str, Any],
) -> PulseError | None:
    if not isinstance(body, dict):
        return RetriableError(
            f"{integration} returned a GraphQL answer that is not an object", **context
        )
    errors = body.get("errors") or []
    if not errors:
        if body.get("data") is None:
            return RetriableError(
                f"{integration} returned a GraphQL answer without data", **context
            )
        return None
    types = {str(e.get("type", "")) for e in errors if isinstance(e, dict)}
    text = redact(
        "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict)), secrets
    )
    if "RATE_LIMITED" in types:
        resume_at = graphql_reset(body) or limits.reset_at or now + timedelta(minutes=1)
        return _limited(f"{integration} GraphQL rate limit is spent", resume_at, now, context)
    if "NOT_FOUND" in types:
        cls = SkippableError if optional else FatalError
        return cls(f"{integration} has no such resource: {text[:_MAX_DETAIL]}", **context)
    if any(hint in text.lower() for hint in _GRAPHQL_RETRIABLE_HINTS):
        return RetriableError(
            f"{integration} GraphQL query failed: {text[:_MAX_DETAIL]}", **context
        )
    if "FORBIDDEN" in types:
        return FatalError(f"{integration} refused access: {text[:_MAX_DETAIL]}", **context)
    return FatalError(f"{integration} GraphQL query failed: {text[:_MAX_DETAIL]}", **context)


def graphql_reset(body: Any) -> datetime | None:
    rate = ((body or {}).get("data") or {}).get("rateLimit") if isinstance(body, dict) else None
    return parse_reset(rate.get("resetAt")) if isinstance(rate, dict) else None


def _limited(
    message: str, resume_at: datetime, now: datetime, context: dict[str, Any]
) -> RateLimitedError:
    error = RateLimitedError(message, resume_at=resume_at, **context)
    error.retry_after = max(0.0, (resume_at - now).total_seconds())
    return error


def _request_label(response: httpx.Response) -> str | None:
    try:
        request = response.request
    except RuntimeError:
        return None
    return f"{request.method} {request.url.path}"


def _detail(body: Any) -> str:
    """A short human summary of an error body (Jira `errorMessages`, GitHub `message`)."""
    if body is None or body is INVALID_JSON:
        return ""
    if isinstance(body, dict):
        parts: list[str] = []
        messages = body.get("errorMessages")
        if isinstance(messages, list):
            parts.extend(str(m) for m in messages)
        if isinstance(body.get("errors"), dict):
            parts.extend(f"{k}: {v}" for k, v in body["errors"].items())
        if isinstance(body.get("message"), str):
            parts.append(body["message"])
        return "; ".join(parts)[:_MAX_DETAIL]
    return str(body)[:_MAX_DETAIL]


def _suffix(detail: str) -> str:
    return f": {detail}" if detail else ""


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None
