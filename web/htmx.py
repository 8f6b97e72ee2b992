"""What an htmx request says about itself, and the response headers htmx acts on."""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response


@dataclass(frozen=True, slots=True)
class HtmxDetails:
    request: bool
    boosted: bool
    history_restore: bool
    target: str | None

    @classmethod
    def of(cls, request: Request) -> HtmxDetails:
        headers = request.headers
        return cls(
            request=headers.get("hx-request") == "true",
            boosted=headers.get("hx-boosted") == "true",
            history_restore=headers.get("hx-history-restore-request") == "true",
            target=headers.get("hx-target"),
        )

    @property
    def partial(self) -> bool:
        """Render a block, not the page: htmx asked, and it is neither a boosted navigation
        nor a history restore (both of which expect a whole page)."""
        return self.request and not self.boosted and not self.history_restore


def trigger(response: Response, **events: object) -> Response:
    """Fire client-side events after the swap (e.g. close the modal, refresh a list)."""
    current = response.headers.get("HX-Trigger")
    merged = json.loads(current) if current else {}
    merged.update(events)
    response.headers["HX-Trigger"] = json.dumps(merged)
    return response
