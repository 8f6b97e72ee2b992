from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.classify import (
    classify_outcome,
    parse_reset,
    parse_retry_after,
)
from pulse.errors import (
    ErrorKind,
    FatalError,
    PulseError,
    RateLimitedError,
    RetriableError,
    SkippableError,
)

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
REQUEST = httpx.Request("GET", "https://acme.atlassian.net/rest/api/3/myself")


def _response(
    status: int, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
) -> httpx.Response:
    if raw is None:
        return httpx.Response(status, json=body, headers=headers, request=REQUEST)
    return httpx.Response(status, content=raw, headers=headers, request=REQUEST)


def classify(outcome: httpx.Response | httpx.HTTPError, **kw: Any) -> PulseError | None:
    kw.setdefault("integration", "Jira (acme)")
    kw.setdefault("credential", "Jira API token")
    return classify_outcome(outcome, now=NOW, **kw)


@pytest.mark.parametrize(
    ("outcome", "options", "expected"),
    [
        (_response(200, {"ok": True}), {}, None),
        (_response(429, {}), {}, RetriableError),
        (_response(429, {}, {"Retry-After": "5"}), {}, RateLimitedError),
        (_response(500, {}), {}, RetriableError),
        (_response(502, raw=b"<html>bad gateway</html>"), {}, RetriableError),
        (_response(503, {}), {}, RetriableError),
        (_response(504, {}), {}, RetriableError),
        (httpx.ReadTimeout("slow", request=REQUEST), {}, RetriableError),
        (httpx.ConnectError("refused", request=REQUEST), {}, RetriableError),
        (httpx.RemoteProtocolError("peer closed", request=REQUEST), {}, RetriableError),
        (_response(200, raw=b'{"issues": [{"id": "1"'), {}, RetriableError),
        (_response(401, {"message": "Bad credentials"}), {}, FatalError),
        (_response(403, {"message": "no"}), {}, FatalError),
        (
            _response(
                403,
                {"message": "API rate limit exceeded"},
                {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1709298000"},
            ),
            {},
            RateLimitedError,
        ),
        (
            _response(
                403, {"message": "You have exceeded a secondary rate limit."}, {"retry-after": "60"}
            ),
            {},
            RateLimitedError,
        ),
        (
            _response(403, {"message": "You have exceeded a secondary rate limit."}),
            {},
            RateLimitedError,
        ),
        (_response(404, {}), {"optional": True}, SkippableError),
        (_response(404, {}), {}, FatalError),
        (_response(400, {"errorMessages": ["bad JQL"]}), {}, FatalError),
    ],
    ids=[
        "200",
        "429",
        "429-retry-after",
        "500",
        "502-html",
        "503",
        "504",
        "timeout",
        "connect-error",
        "cut-off-body",
        "truncated-json",
        "401",
        "403-permission",
        "403-primary-limit",
        "403-secondary-retry-after",
        "403-secondary-message",
        "404-optional",
        "404-required",
        "400",
    ],
)
def test_classification_table(
    outcome: httpx.Response | httpx.HTTPError, options: dict[str, Any], expected: type | None
) -> None:
    error = classify(outcome, **options)
    if expected is None:
        assert error is None
    else:
        assert type(error) is expected


def test_primary_limit_resumes_at_the_reset_time() -> None:
    reset = NOW + timedelta(minutes=20)
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(reset.timestamp()))}
    error = classify(_response(403, {"message": "API rate limit exceeded"}, headers))
    assert isinstance(error, RateLimitedError)
    assert error.resume_at == reset
    assert error.retry_after == pytest.approx(1200)


def test_secondary_limit_without_retry_after_waits_a_minute() -> None:
    error = classify(_response(429, {"message": "You have exceeded a secondary rate limit"}))
    assert isinstance(error, RateLimitedError)
    assert error.resume_at == NOW + timedelta(seconds=60)


def test_jira_iso_reset_header_on_429() -> None:
    headers = {"X-RateLimit-Reset": "2024-03-01T12:10:00Z", "X-RateLimit-Remaining": "0"}
    error = classify(_response(429, {}, headers))
    assert isinstance(error, RateLimitedError)
    assert error.resume_at == NOW + timedelta(minutes=10)


def test_401_names_the_integration_and_credential_kind() -> None:
    error = classify(_response(401, {}))
    assert isinstance(error, FatalError)
    assert error.kind is ErrorKind.FATAL
    assert "Jira (acme)" in str(error)
    assert "Jira API token" in str(error)


def test_server_text_is_scrubbed_of_secrets() -> None:
    error = classify(
        _response(400, {"errorMessages": ["token s3cr3t-tok is odd"]}), secrets=["s3cr3t-tok"]
    )
    assert error is not None
    assert "s3cr3t-tok" not in str(error)
    assert "***" in str(error)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"data": {"viewer": {"login": "x"}}}, None),
        (
            {"data": None, "errors": [{"type": "RATE_LIMITED", "message": "API rate limit"}]},
            RateLimitedError,
        ),
        (
            {"data": {"repository": None}, "errors": [{"type": "NOT_FOUND", "message": "gone"}]},
            SkippableError,
        ),
        (
            {"data": None, "errors": [{"message": "Something went wrong while executing"}]},
            RetriableError,
        ),
        ({"data": None, "errors": [{"type": "FORBIDDEN", "message": "SAML"}]}, FatalError),
        ({"errors": []}, RetriableError),
    ],
    ids=["ok", "rate-limited", "not-found-optional", "transient", "forbidden", "no-data"],
)
def test_graphql_bodies(body: dict[str, Any], expected: type | None) -> None:
    error = classify(_response(200, body), graphql=True, optional=True)
    assert (type(error) if error else None) is expected


def test_graphql_rate_limited_resumes_at_reset_from_body() -> None:
    body = {
        "data": {"rateLimit": {"remaining": 0, "resetAt": "2024-03-01T12:30:00Z"}},
        "errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}],
    }
    error = classify(_response(200, body), graphql=True)
    assert isinstance(error, RateLimitedError)
    assert error.resume_at == NOW + timedelta(minutes=30)


def test_reset_and_retry_after_formats() -> None:
    assert parse_reset("1709294400") == datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_reset("2024-03-01T12:00:00.000Z") == NOW
    assert parse_reset("garbage") is None
    assert parse_retry_after("7", NOW) == 7
    assert parse_retry_after("Fri, 01 Mar 2024 12:00:30 GMT", NOW) == 30
    assert parse_retry_after("soon", NOW) is None
