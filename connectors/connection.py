"""The answer of a connector's `test_connection()`: short enough to show next to a form."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pulse.errors import PulseError, RetriableError

if TYPE_CHECKING:  # the HTTP layer imports this module's ConnectionCheck users
    from connectors.http import HttpClient, HttpResult


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    ok: bool
    message: str  # one human sentence, never a secret
    details: dict[str, Any] = field(default_factory=dict)  # e.g. {"time_zone": "Asia/Shanghai"}
    retriable: bool = False  # a failure that may pass on a later try (timeouts, 5xx, limits)


def probe(
    http: HttpClient | None,
    make_client: Callable[[], HttpClient],
    request: Callable[[HttpClient], HttpResult],
) -> tuple[HttpClient, dict[str, Any] | ConnectionCheck]:
    """Make one probing request with `http` (or a client made for it and closed after): the
    response body, or the failed check to show as is."""
    client = http or make_client()
    try:
        return client, request(client).body or {}
    except PulseError as exc:
        return client, ConnectionCheck(
            False, exc.message, retriable=isinstance(exc, RetriableError)
        )
    finally:
        if http is None:
            client.close()
