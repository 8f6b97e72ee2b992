"""The Starlette app: a thin adapter from HTTP to `Simulator.handle`."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.simulator.protocol import SimRequest
from connectors.simulator.simulator import Simulator


def build_app(simulator: Simulator) -> Starlette:
    async def endpoint(request: Request) -> Response:
        sim_request = SimRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
            base_url=str(request.base_url).rstrip("/"),
        )
        # Handlers are CPU-bound and short; running them inline avoids a thread hop per request.
        response = simulator.handle(sim_request)
        if response.delay > 0:
            await asyncio.sleep(response.delay)
        return Response(
            response.body, response.status, response.headers, media_type=response.content_type
        )

    methods = ["GET", "POST", "PUT", "DELETE"]
    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])
    app.state.simulator = simulator
    return app
