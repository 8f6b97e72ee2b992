"""The socket-free request and response types the simulator handles, and JSON helpers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class SimRequest:
    method: str
    path: str  # e.g. /jira/acme/rest/api/3/search/jql
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    base_url: str = "http://simulator.local"  # scheme://host[:port], used in `self` links

    def json(self) -> Any:
        """The JSON body; raises BadRequest when it is missing or invalid."""
        if not self.body:
            raise BadRequest("request body is empty; expected JSON")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"request body is not valid JSON: {exc}") from exc


@dataclass(slots=True)
class SimResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json;charset=UTF-8"
    delay: float = 0.0  # seconds the transport waits before answering (latency, slow faults)

    def json(self) -> Any:
        return json.loads(self.body)


class BadRequest(Exception):
    """A client error a handler answers with 400 in the source's own error shape."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def dump(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(payload: Any, status: int = 200, **headers: str) -> SimResponse:
    return SimResponse(status, dump(payload), dict(headers))


def jira_error(status: int, *messages: str) -> SimResponse:
    return json_response({"errorMessages": list(messages), "errors": {}}, status)


def int_param(value: Any, default: int, name: str, minimum: int = 0) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"'{name}' must be an integer, got {value!r}") from exc
    if number < minimum:
        raise BadRequest(f"'{name}' must be at least {minimum}, got {number}")
    return number
