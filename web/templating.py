"""Jinja2 rendering: whole pages, or one named block of a page for htmx requests.

Autoescaping is on for every template and nothing from Jira or GitHub is ever marked safe;
`StrictUndefined` turns a misspelt variable into an error in the tests instead of an empty
cell in production. A block is rendered from the page's own template, so a fragment and the
full page can never drift apart.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from starlette.background import BackgroundTask
from starlette.responses import HTMLResponse
from starlette.types import Receive, Scope, Send

TEMPLATES = Path(__file__).parent / "templates"


def _dt(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float | int | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def _ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    delta = (datetime.now(UTC) - value).total_seconds()
    if delta < 0:
        return f"in {_duration(-delta)}"
    return f"{_duration(delta)} ago"


def _timetag(value: datetime | None) -> Markup:
    """A <time> element: relative text, exact UTC in the tooltip. Built from a datetime this
    code formats (never from source text), each piece escaped all the same. A data page has
    one per row, so it formats once (the tooltip is cut from the ISO text) and reads the clock
    as a float: half the time of `_dt` and `_ago` together."""
    if value is None:
        return Markup("—")
    iso = html.escape(value.astimezone(UTC).isoformat())
    delta = time.time() - value.timestamp()
    ago = html.escape(f"in {_duration(-delta)}" if delta < 0 else f"{_duration(delta)} ago")
    return Markup(f'<time datetime="{iso}" title="{iso[:10]} {iso[11:19]} UTC">{ago}</time>')  # noqa: S704 - escaped


def _number(value: int | float | None) -> str:
    return "—" if value is None else f"{value:,}"


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _pairs(values: Any) -> list[tuple[str, str]]:
    """Choices for a <select> whose labels are the values, made readable."""
    return [(str(v), str(v).replace("_", " ")) for v in values]


def make_environment(directory: Path = TEMPLATES) -> Environment:
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(
        dt=_dt,
        duration=_duration,
        ago=_ago,
        number=_number,
        pretty_json=_pretty_json,
        pairs=_pairs,
        timetag=_timetag,
    )
    # Shared macros as a global, so a block rendered on its own (an htmx fragment) sees them
    # too; a top-level `{% import %}` only runs when the whole page renders.
    env.globals["m"] = env.get_template("_macros.html").module
    return env


class PageResponse(HTMLResponse):
    """An HTML response that remembers its template and context (tests read them)."""

    def __init__(
        self,
        template: str,
        context: dict[str, Any],
        content: str,
        *,
        block: str | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.template = template
        self.block = block
        self.context = context
        super().__init__(content, status_code, headers, background=background)
        self.headers["Vary"] = "HX-Request, HX-Target"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if "http.response.debug" in scope.get("extensions", {}):
            await send(
                {
                    "type": "http.response.debug",
                    "info": {"template": self.template, "context": self.context},
                }
            )
        await super().__call__(scope, receive, send)


# What base.html needs even on pages without a signed-in user (login, errors).
_DEFAULTS: dict[str, Any] = {"user": None, "csrf_token": "", "partial": False, "errors": {}}


class Templates:
    def __init__(self, env: Environment | None = None) -> None:
        self.env = env or make_environment()

    def render(self, name: str, context: dict[str, Any], *, block: str | None = None) -> str:
        context = {**_DEFAULTS, **context}
        template = self.env.get_template(name)
        if block is None:
            return template.render(context)
        render_block = template.blocks.get(block)
        if render_block is None:
            raise LookupError(f"template {name!r} has no block {block!r}")
        return "".join(render_block(template.new_context(context)))
