from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from connectors.budget import InMemoryBudget
from connectors.http import Credential, HttpClient, RetryPolicy
from pulse.errors import FatalError, RateLimitedError, RetriableError, SkippableError
from tests.connectors.fakes import FixedClock, Recorder, Sleeps, sequence

TOKEN = "tok-very-secret-123"


def client(
    recorder: Recorder,
    *,
    budget: InMemoryBudget | None = None,
    policy: RetryPolicy | None = None,
    sleeps: Sleeps | None = None,
    clock: FixedClock | None = None,
) -> HttpClient:
    return HttpClient(
        "https://acme.atlassian.net",
        integration="Jira (acme.atlassian.net)",
        credential=Credential.basic("me@acme.test", SecretStr(TOKEN), kind="Jira API token"),
        budget=budget or InMemoryBudget(),
        policy=policy or RetryPolicy(max_retries=3),
        transport=recorder.transport,
        sleep=sleeps if sleeps is not None else Sleeps(),
        clock=clock or FixedClock(),
        rng=random.Random(7),
    )


def ok(body: object = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(200, json=body if body is not None else {"ok": True}, headers=headers)


def test_sends_basic_auth_and_parses_json() -> None:
    recorder = sequence([ok({"accountId": "a1"})])
    result = client(recorder).get("/rest/api/3/myself")
    assert result.body == {"accountId": "a1"}
    assert result.attempts == 1
    assert recorder.requests[0].headers["Authorization"].startswith("Basic ")


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retriable_statuses_are_retried_then_succeed(status: int) -> None:
    recorder = sequence([httpx.Response(status, json={}), ok()])
    sleeps = Sleeps()
    http = client(recorder, sleeps=sleeps)
    result = http.get("/x")
    assert result.attempts == 2
    assert http.requests_sent == 2
    assert len(sleeps) == 1


def test_timeouts_and_truncated_json_are_retried() -> None:
    request = httpx.Request("GET", "https://acme.atlassian.net/x")
    recorder = sequence(
        [
            httpx.ReadTimeout("slow", request=request),
            httpx.Response(200, content=b'{"values": [1, 2'),
            ok({"values": [1, 2]}),
        ]
    )
    assert client(recorder).get("/x").body == {"values": [1, 2]}
    assert len(recorder.requests) == 3


def test_retry_after_is_honoured() -> None:
    recorder = sequence([httpx.Response(429, headers={"Retry-After": "7"}), ok()])
    sleeps = Sleeps()
    client(recorder, sleeps=sleeps).get("/x")
    assert sleeps == [7.0]


def test_backoff_is_bounded_by_max_retries_then_retriable_error() -> None:
    recorder = sequence([httpx.Response(503, json={}) for _ in range(10)])
    sleeps = Sleeps()
    with pytest.raises(RetriableError) as caught:
        client(recorder, sleeps=sleeps, policy=RetryPolicy(max_retries=3)).get("/x")
    assert len(recorder.requests) == 4  # the first try and 3 retries
    assert len(sleeps) == 3
    assert sleeps[0] < sleeps[1] < sleeps[2] <= 30  # exponential, jittered, capped
    assert "gave up after 4 attempts" in str(caught.value)


def test_max_retries_comes_from_settings() -> None:
    from pulse.settings import Settings

    assert RetryPolicy.from_settings(Settings(etl_max_retries=5)).max_retries == 5


def test_long_retry_after_parks_the_job_instead_of_sleeping() -> None:
    clock = FixedClock()
    recorder = sequence([httpx.Response(429, headers={"Retry-After": "600"})])
    sleeps = Sleeps()
    with pytest.raises(RateLimitedError) as caught:
        client(recorder, sleeps=sleeps, clock=clock).get("/x")
    assert caught.value.resume_at == clock.now + timedelta(seconds=600)
    assert sleeps == []


def test_spent_budget_raises_rate_limited_without_a_request() -> None:
    clock = FixedClock(datetime.now(UTC))  # InMemoryBudget reads the real clock
    budget = InMemoryBudget()
    reset = clock.now + timedelta(minutes=30)
    budget.observe(0, reset)
    recorder = sequence([])
    with pytest.raises(RateLimitedError) as caught:
        client(recorder, budget=budget, clock=clock).get("/x")
    assert caught.value.resume_at == reset
    assert recorder.requests == []


def test_server_figures_reach_the_budget_and_stop_the_next_request() -> None:
    budget = InMemoryBudget()
    clock = FixedClock(datetime.now(UTC))
    reset = clock.now + timedelta(hours=1)
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(reset.timestamp()))}
    recorder = sequence([ok(headers=headers)])
    http = client(recorder, budget=budget, clock=clock)
    http.get("/x")
    assert budget.state.remaining == 0
    with pytest.raises(RateLimitedError):
        http.get("/y")
    assert len(recorder.requests) == 1


def test_graphql_rate_limit_in_body_is_observed() -> None:
    budget = InMemoryBudget()
    body = {
        "data": {
            "viewer": {"login": "me"},
            "rateLimit": {"cost": 1, "remaining": 4321, "resetAt": "2024-03-01T13:00:00Z"},
        }
    }
    recorder = sequence([ok(body)])
    client(recorder, budget=budget).graphql("query Viewer { viewer { login } }", {}, "Viewer")
    assert budget.state.remaining == 4321
    assert recorder.requests[0].url.path == "/graphql"


def test_graphql_rate_limited_error_body_is_retried_after_a_short_wait() -> None:
    clock = FixedClock()
    reset = (clock.now + timedelta(seconds=10)).isoformat()
    limited = {
        "data": {"rateLimit": {"remaining": 0, "resetAt": reset}},
        "errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}],
    }
    recorder = sequence([ok(limited), ok({"data": {"viewer": {"login": "me"}}})])
    sleeps = Sleeps()
    http = client(recorder, sleeps=sleeps, clock=clock, budget=InMemoryBudget())
    # The budget learnt remaining=0 with a reset 10 s away: waits it out in place.
    http.budget = _Unlimited()
    result = http.graphql("query Viewer { viewer { login } }", {}, "Viewer")
    assert result.body["data"]["viewer"]["login"] == "me"
    assert sleeps == [10.0]


class _Unlimited:
    def reserve(self, cost: int = 1) -> None:
        return None

    def observe(self, remaining: object, reset_at: object) -> None:
        return None


def test_401_is_fatal_immediately_and_names_integration() -> None:
    recorder = sequence([httpx.Response(401, json={"message": "Bad credentials"})])
    with pytest.raises(FatalError) as caught:
        client(recorder).get("/rest/api/3/myself")
    assert len(recorder.requests) == 1
    assert "Jira (acme.atlassian.net)" in str(caught.value)
    assert "Jira API token" in str(caught.value)


def test_404_on_optional_entity_is_skippable() -> None:
    recorder = sequence([httpx.Response(404, json={"errorMessages": ["Issue does not exist"]})])
    with pytest.raises(SkippableError):
        client(recorder).get("/rest/dev-status/latest/issue/detail", optional=True)


def test_fail_fast_statuses_are_left_to_the_caller() -> None:
    recorder = sequence([httpx.Response(502, json={})])
    with pytest.raises(RetriableError) as caught:
        client(recorder).post("/graphql", json={}, fail_fast={502, 504})
    assert caught.value.context["status"] == 502
    assert len(recorder.requests) == 1


def test_secrets_never_reach_logs_errors_or_reprs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"errorMessages": [f"token {TOKEN} rejected"], "message": TOKEN}
    recorder = sequence(
        [
            httpx.Response(500, json=echo),
            httpx.Response(503, json=echo),
            httpx.Response(401, json=echo),
        ]
    )
    http = client(recorder)
    with pytest.raises(FatalError) as caught:
        http.get("/x")
    credential = Credential.basic("me@acme.test", SecretStr(TOKEN))
    authorization = credential.authorization().split(" ", 1)[1]
    texts = [
        caplog.text,
        str(caught.value),
        repr(caught.value),
        repr(http),
        repr(credential),
        str(caught.value.context),
    ]
    for text in texts:
        assert TOKEN not in text
        assert authorization not in text
    assert caplog.records, "retries should have been logged"


def test_secret_is_not_in_client_headers() -> None:
    http = client(sequence([]))
    assert "Authorization" not in http._client.headers
