"""The one module that sends HTTP requests to Jira and GitHub.

Every request first takes its cost from the credential's `RateBudget` and reports what the
server said about the budget afterwards. Failures are classified by `classify_outcome`; retriable
ones are retried with jittered exponential backoff up to `RetryPolicy.max_retries`. Short
rate-limit waits are slept in place; long ones (a spent budget) raise `RateLimitedError` so the
job layer can park the run until `resume_at` instead of holding a worker for minutes.

Secrets live only inside `Credential` and are added to a request at send time, so they never
appear in the client's repr, in log lines or in error messages.
"""

from __future__ import annotations

import base64
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable, Collection, Generator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from connectors.budget import InMemoryBudget, RateBudget
from connectors.classify import (
    INVALID_JSON,
    classify_outcome,
    graphql_reset,
    parse_body,
    rate_limit_headers,
)
from pulse.errors import PulseError, RateLimitedError, RetriableError
from pulse.lifecycle import Closing

logger = logging.getLogger(__name__)

_USER_AGENT = "pulse-etl/0.1"
_UNKNOWN_RESET_WAIT = 60.0


@dataclass(frozen=True, slots=True)
class Credential:
    """How to authenticate. `kind` names the credential in messages ("API token")."""

    kind: str
    secret: SecretStr = field(repr=False)
    username: str | None = None  # set: HTTP Basic username:secret; unset: bearer token
    scheme: Literal["basic", "bearer"] = "bearer"

    @classmethod
    def basic(cls, username: str, secret: SecretStr, kind: str = "API token") -> Credential:
        return cls(kind=kind, secret=secret, username=username, scheme="basic")

    @classmethod
    def bearer(cls, secret: SecretStr, kind: str = "access token") -> Credential:
        return cls(kind=kind, secret=secret, scheme="bearer")

    def authorization(self) -> str:
        token = self.secret.get_secret_value()
        if self.scheme == "basic":
            pair = f"{self.username}:{token}".encode()
            return "Basic " + base64.b64encode(pair).decode()
        return f"bearer {token}"

    def secret_forms(self) -> tuple[str, ...]:
        """Every form the secret takes on the wire, for scrubbing text copied from responses."""
        token = self.secret.get_secret_value()
        return (token, self.authorization().split(" ", 1)[1])


class _CredentialAuth(httpx.Auth):
    def __init__(self, credential: Credential) -> None:
        self._credential = credential

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._credential.authorization()
        yield request

    def __repr__(self) -> str:
        return f"<CredentialAuth {self._credential.kind}>"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 3  # ETL_MAX_RETRIES: retries of one request after retriable failures
    base_delay: float = 1.0
    max_delay: float = 30.0
    wait_threshold: float = 30.0  # longer rate-limit waits go to the job layer
    max_rate_limit_waits: int = 5  # short rate-limit sleeps in place before giving up
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Any) -> RetryPolicy:
        """From `pulse.settings.Settings` (ETL_MAX_RETRIES)."""
        return cls(max_retries=settings.etl_max_retries)

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Exponential with jitter: somewhere in [d/2, d] for d = base * 2**retry, capped."""
        ceiling = min(self.max_delay, self.base_delay * (2**retry))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True, slots=True)
class HttpResult:
    status: int
    body: Any
    headers: httpx.Headers
    attempts: int  # requests sent for this call, retries included


def _utcnow() -> datetime:
    return datetime.now(UTC)


class HttpClient(Closing):
    """A synchronous JSON client for one integration and one credential."""

    def __init__(
        self,
        base_url: str,
        *,
        integration: str,
        credential: Credential,
        budget: RateBudget | None = None,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = _utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.integration = integration
        self.base_url = base_url.rstrip("/")
        self.credential_kind = credential.kind
        self.budget: RateBudget = budget if budget is not None else InMemoryBudget()
        self.policy = policy or RetryPolicy()
        self._secrets = credential.secret_forms()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._sent = 0
        self._client = httpx.Client(
            auth=_CredentialAuth(credential),
            transport=transport,
            timeout=httpx.Timeout(self.policy.timeout, connect=min(10.0, self.policy.timeout)),
            headers={"Accept": "application/json", "User-Agent": _USER_AGENT},
            follow_redirects=False,
        )
        # Streams share a client without owning it: close the pool when the last one lets go.
        self._finalizer = weakref.finalize(self, self._client.close)

    def __repr__(self) -> str:
        return f"<HttpClient {self.integration} {self.base_url} sent={self._sent}>"

    def close(self) -> None:
        self._finalizer()

    def now(self) -> datetime:
        """The client's clock (aware UTC); streams stamp unversioned entities with it."""
        return self._clock()

    @property
    def requests_sent(self) -> int:
        """Requests sent by this client so far, retries included."""
        return self._sent

    def get(self, path: str, *, params: Mapping[str, Any] | None = None, **kw: Any) -> HttpResult:
        return self.request("GET", path, params=params, **kw)

    def post(self, path: str, *, json: Any = None, **kw: Any) -> HttpResult:
        return self.request("POST", path, json=json, **kw)

    def graphql(
        self,
        query: str,
        variables: Mapping[str, Any],
        operation_name: str,
        *,
        path: str = "/graphql",
        **kw: Any,
    ) -> HttpResult:
        payload = {"query": query, "variables": dict(variables), "operationName": operation_name}
        return self.request("POST", path, json=payload, graphql=True, **kw)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        cost: int = 1,
        optional: bool = False,
        graphql: bool = False,
        fail_fast: Collection[int] = (),
        entity: str | None = None,
    ) -> HttpResult:
        """Send one logical request, retrying retriable failures. Raises `PulseError`s.

        `optional`: a 404 (or GraphQL NOT_FOUND) is a `SkippableError`. `fail_fast`: statuses the
        caller handles itself (GitHub 502/504 shrink the page instead of repeating the query).
        """
        url = self.base_url + path
        attempts = errors = waits = 0
        while True:
            self._take_budget(cost, entity)
            attempts += 1
            with self._lock:
                self._sent += 1
            now = self._clock()
            try:
                response = self._client.request(method, url, params=params, json=json)
            except httpx.HTTPError as exc:
                error = classify_outcome(
                    exc, integration=self.integration, credential=self.credential_kind
                )
                assert error is not None
                status = None
            else:
                body = parse_body(response)
                self._observe(response, body if graphql else None, now)
                error = classify_outcome(
                    response,
                    body=body,
                    integration=self.integration,
                    credential=self.credential_kind,
                    optional=optional,
                    graphql=graphql,
                    now=now,
                    secrets=self._secrets,
                )
                status = response.status_code
                if error is None:
                    return HttpResult(
                        status, None if body is INVALID_JSON else body, response.headers, attempts
                    )
            if entity:
                error.context.setdefault("entity", entity)
            error.context.setdefault("attempts", attempts)
            if not isinstance(error, RetriableError) or status in fail_fast:
                raise error
            if isinstance(error, RateLimitedError):
                waits += 1
                delay = error.retry_after or 0.0
                if delay > self.policy.wait_threshold or waits > self.policy.max_rate_limit_waits:
                    raise error
            else:
                if errors >= self.policy.max_retries:
                    error.message = f"{error.message}; gave up after {attempts} attempts"
                    raise error
                if error.retry_after is not None:
                    delay = error.retry_after
                else:
                    delay = self.policy.backoff(errors, self._rng)
                errors += 1
                if delay > self.policy.wait_threshold:
                    raise self._parked(error, delay, now)
            logger.warning(
                "%s %s %s failed: %s; retrying in %.1fs",
                self.integration,
                method,
                path,
                error.message,
                delay,
                extra={"integration": self.integration, "attempt": attempts, "entity": entity},
            )
            self._sleep(delay)

    def _take_budget(self, cost: int, entity: str | None) -> None:
        """Reserve `cost`; sleep through a reset that is near, park the job for a far one."""
        reset_at: datetime | None = None
        for _ in range(self.policy.max_rate_limit_waits + 1):
            reset_at = self.budget.reserve(cost)
            if reset_at is None:
                return
            wait = (reset_at - self._clock()).total_seconds()
            if wait > self.policy.wait_threshold:
                break
            logger.info("%s budget resets in %.1fs; waiting", self.integration, max(wait, 0.0))
            self._sleep(max(wait, 0.0) + 0.5)
        assert reset_at is not None
        now = self._clock()
        if reset_at <= now:  # spent, but the server never said until when: look again later
            reset_at = now + timedelta(seconds=_UNKNOWN_RESET_WAIT)
        raise RateLimitedError(
            f"{self.integration} rate budget is spent until {reset_at.isoformat()}",
            resume_at=reset_at,
            integration=self.integration,
            entity=entity,
        )

    def _observe(self, response: httpx.Response, body: Any, now: datetime) -> None:
        limits = rate_limit_headers(response.headers, now)
        remaining, reset_at = limits.remaining, limits.reset_at
        rate = (body.get("data") or {}).get("rateLimit") if isinstance(body, dict) else None
        if isinstance(rate, dict):
            if isinstance(rate.get("remaining"), int):
                remaining = rate["remaining"]
            reset_at = graphql_reset(body) or reset_at
        if remaining is not None or reset_at is not None:
            self.budget.observe(remaining, reset_at)

    def _parked(self, error: PulseError, delay: float, now: datetime) -> RateLimitedError:
        parked = RateLimitedError(
            f"{error.message}; the server asked to wait {delay:.0f}s",
            resume_at=now + timedelta(seconds=delay),
            **error.context,
        )
        parked.retry_after = delay
        parked.__cause__ = error
        return parked
