"""The "replay this tenant" action, offered after a mapping edit: start it, then show how many raw
records still wait to be re-processed until none do."""

from __future__ import annotations

from starlette.responses import Response

from storage import raw_store
from web.routing import Ctx, RouteTable

table = RouteTable()


def _status(ctx: Ctx, started: bool | None = None) -> Response:
    runner = ctx.web.replays
    return ctx.fragment(
        "_replay_status.html",
        started=started,
        running=runner.running(ctx.tenant_id),
        error=runner.error(ctx.tenant_id),
        waiting=raw_store.unprocessed_count(ctx.db, ctx.tenant_id),
    )


@table.post("/tenant/replay", role="admin")
def replay_start(ctx: Ctx) -> Response:
    started = ctx.web.replays.start(ctx.tenant_id)
    return _status(ctx, started)


@table.get("/tenant/replay", role="viewer")
def replay_status(ctx: Ctx) -> Response:
    return _status(ctx)
