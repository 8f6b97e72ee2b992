"""Injectable faults: the next N matching requests fail the way the real sources fail."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from connectors.simulator.protocol import SimResponse, dump


class FaultKind(StrEnum):
    RATE_LIMIT = "429"  # 429 with Retry-After
    SECONDARY = "secondary"  # GitHub secondary limit: 403 with retry-after
    PRIMARY = "primary"  # GitHub primary limit spent: 403, x-ratelimit-remaining 0
    BAD_GATEWAY = "502"
    GATEWAY_TIMEOUT = "504"
    SLOW = "slow"  # answer normally after `delay` seconds
    TRUNCATED = "truncated"  # 200 with the JSON body cut in half
    BAD_CREDENTIALS = "401"


@dataclass(slots=True)
class Fault:
    id: int
    kind: FaultKind
    remaining: int
    site: str | None = None
    system: str | None = None  # "jira" or "github"; None: both
    match: str | None = None  # a substring of the path, or an endpoint name (jira.search_jql)
    operation: str | None = None  # a GraphQL operationName
    retry_after: float = 1.0
    delay: float = 2.0
    served: int = 0

    def matches(
        self, system: str, site: str, path: str, endpoint: str, operation: str | None
    ) -> bool:
        return (
            self.remaining > 0
            and (self.system is None or self.system == system)
            and (self.site is None or self.site == site)
            and (self.match is None or self.match in path or self.match == endpoint)
            and (self.operation is None or self.operation == operation)
        )

    def describe(self) -> dict[str, Any]:
        out = asdict(self)
        out["kind"] = str(self.kind)
        return out


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1

    def add(
        self,
        kind: FaultKind | str,
        *,
        count: int = 1,
        site: str | None = None,
        system: str | None = None,
        match: str | None = None,
        operation: str | None = None,
        retry_after: float = 1.0,
        delay: float = 2.0,
    ) -> Fault:
        if count < 1:
            raise ValueError("count must be at least 1")
        if system not in (None, "jira", "github"):
            raise ValueError(f"system must be 'jira', 'github' or None, got {system!r}")
        with self._lock:
            fault = Fault(
                self._next_id,
                FaultKind(kind),
                count,
                site,
                system,
                match,
                operation,
                retry_after,
                delay,
            )
            self._next_id += 1
            self._faults.append(fault)
            return fault

    def take(
        self, system: str, site: str, path: str, endpoint: str, operation: str | None
    ) -> Fault | None:
        """The first matching fault, with one use consumed."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(system, site, path, endpoint, operation):
                    fault.remaining -= 1
                    fault.served += 1
                    return fault
            return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.describe() for f in self._faults]


def fault_response(fault: Fault, system: str, rate_headers: dict[str, str]) -> SimResponse | None:
    """The failure to answer instead of the real response; None for SLOW and TRUNCATED, which
    alter the real response instead."""
    wait = str(max(1, round(fault.retry_after)))
    kind = fault.kind
    github = system == "github"
    if not github and kind in (FaultKind.RATE_LIMIT, FaultKind.SECONDARY, FaultKind.PRIMARY):
        # Jira has one way to say "slow down": 429 with Retry-After.
        headers = {**rate_headers, "Retry-After": wait}
        if kind == FaultKind.PRIMARY:
            headers["X-RateLimit-Remaining"] = "0"
        return SimResponse(
            429, dump({"errorMessages": ["Rate limit exceeded."], "errors": {}}), headers
        )
    if kind in (FaultKind.RATE_LIMIT, FaultKind.SECONDARY):
        body = {
            "message": "You have exceeded a secondary rate limit. Please wait a few minutes "
            "before you try again.",
            "documentation_url": _GH_DOCS,
        }
        status = 429 if kind == FaultKind.RATE_LIMIT else 403
        return SimResponse(status, dump(body), {**rate_headers, "retry-after": wait})
    if kind == FaultKind.PRIMARY:
        headers = {
            **rate_headers,
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(int(time.time() + fault.retry_after + 0.999)),
        }
        body = {"message": "API rate limit exceeded for user ID 1.", "documentation_url": _GH_DOCS}
        return SimResponse(403, dump(body), headers)
    if kind in (FaultKind.BAD_GATEWAY, FaultKind.GATEWAY_TIMEOUT):
        status = 502 if kind == FaultKind.BAD_GATEWAY else 504
        if github:
            payload = dump(
                {
                    "data": None,
                    "errors": [
                        {
                            "message": "Something went wrong while "
                            "executing your query. This may be the result of a timeout, or it "
                            "could be a GitHub bug."
                        }
                    ],
                }
            )
            return SimResponse(status, payload, rate_headers)
        text = f"<html><body><h1>{status} {'Bad Gateway' if status == 502 else 'Gateway Timeout'}"
        return SimResponse(
            status, f"{text}</h1></body></html>".encode(), {}, content_type="text/html"
        )
    if kind == FaultKind.BAD_CREDENTIALS:
        return unauthorized(system)
    return None


def unauthorized(system: str) -> SimResponse:
    if system == "github":
        return SimResponse(
            401,
            dump(
                {
                    "message": "Bad credentials",
                    "documentation_url": "https://docs.github.com/graphql",
                }
            ),
        )
    return SimResponse(
        401,
        b"Client must be authenticated to access this resource.",
        {"WWW-Authenticate": 'Basic realm="protected-area"'},
        content_type="text/plain;charset=UTF-8",
    )


_GH_DOCS = (
    "https://docs.github.com/graphql/overview/rate-limits-and-node-limits-for-the-graphql-api"
)
