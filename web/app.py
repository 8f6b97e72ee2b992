"""The web application: `create_app(settings)` builds the Starlette app with its routes,
middleware (request metrics, security headers, CSRF) and a lifespan that runs the one progress
consumer of this process. `/healthz`, `/readyz` and `/metrics` need no login."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from anyio import CapacityLimiter
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from dataflows.vectorize import Embedder
from pulse.ops.metrics import Metrics
from pulse.settings import Settings, configure_logging, load_settings
from storage.crypto import cipher_for, jwt_secret
from storage.db import make_engine, session_factory
from web.auth import SessionCodec
from web.config import WebConfig
from web.csrf import CsrfMiddleware
from web.headers import SecurityHeadersMiddleware
from web.jobs_actions import JobActions
from web.metrics import MetricsMiddleware, RequestMetrics, metrics_endpoint
from web.operations import QueueAccess, VectorAccess
from web.probes import LoopProbe, ping_database
from web.progress import ProgressConsumer, ProgressHub
from web.replays import ReplayRunner
from web.services import WebServices
from web.templating import PageResponse, Templates

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


def _page_routes() -> list[BaseRoute]:
    from web.api import jobs as api_jobs
    from web.api import raw as api_raw
    from web.routes import (
        custom_fields,
        data,
        events,
        integrations,
        jobs,
        login,
        qdrant,
        queues,
        replay,
        statuses,
        tokens,
        users,
        wit,
        workflows,
    )

    routes: list[BaseRoute] = []
    for module in (
        login,
        jobs,
        integrations,
        wit,
        statuses,
        workflows,
        replay,
        custom_fields,
        queues,
        qdrant,
        data,
        users,
        tokens,
        api_jobs,
        api_raw,
    ):
        routes.extend(module.table.routes)
    routes.extend(events.routes)
    return routes


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    config: WebConfig | None = None,
    progress_consumer: bool = True,
    embedder: Embedder | None = None,
) -> Starlette:
    """The app for one web process. Pass `engine` to share one (tests); otherwise the app
    makes one from `settings.database_url` and disposes of it on shutdown. `embedder` fixes
    the model semantic search uses (tests); by default each tenant's own is used."""
    config = config or WebConfig()
    owns_engine = engine is None
    if engine is None:
        engine = make_engine(settings.database_url, pool_size=config.db_concurrency)
    codec = SessionCodec(jwt_secret(settings), config)
    hub = ProgressHub(queue_size=config.client_queue_size)
    factory = session_factory(engine)
    services = WebServices(
        settings=settings,
        config=config,
        factory=factory,
        codec=codec,
        templates=Templates(),
        cipher=cipher_for(settings),
        hub=hub,
        jobs=JobActions(settings, factory, engine),
        replays=ReplayRunner(settings, factory),
        queues=QueueAccess(settings, factory),
        vectors=VectorAccess(settings, factory, cipher_for(settings), embedder=embedder),
        db_slots=CapacityLimiter(config.db_concurrency),
        password_slots=CapacityLimiter(config.password_concurrency),
    )

    metrics = Metrics()
    loop_probe = LoopProbe()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        hub.bind(asyncio.get_running_loop())
        loop_probe.bind(asyncio.get_running_loop())
        consumer = None
        if progress_consumer and settings.rabbitmq_url is not None:
            consumer = ProgressConsumer(settings.rabbitmq_url, hub)
            consumer.start()
        _app.state.progress_consumer = consumer
        try:
            yield
        finally:
            loop_probe.bind(None)
            if consumer is not None:
                consumer.stop()
            services.queues.close()
            services.vectors.close()
            if owns_engine:
                engine.dispose()

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_request: Request) -> Response:
        try:
            await run_in_threadpool(ping_database, engine)
        except Exception as exc:
            log.warning("readiness check failed: %r", exc)
            return PlainTextResponse("database unavailable", 503)
        return PlainTextResponse("ready")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.headers.get("hx-request") == "true" or request.url.path.startswith("/api/"):
            return PlainTextResponse(exc.detail, exc.status_code)
        context = {"status": exc.status_code, "detail": exc.detail, "user": None}
        html = services.templates.render("error.html", context)
        return PageResponse("error.html", context, html, status_code=exc.status_code)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        *_page_routes(),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(MetricsMiddleware, metrics=RequestMetrics(metrics.registry)),
            Middleware(SecurityHeadersMiddleware),
            Middleware(CsrfMiddleware, codec=codec, public_origin=config.public_origin),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )

    def ready() -> bool:
        ping_database(engine)  # raises when the database does not answer: the probe says why
        return loop_probe()

    app.state.web = services
    app.state.metrics = metrics
    # For a health server in another thread (`pulse web --health-port`).
    app.state.live, app.state.ready = loop_probe, ready
    return app


WEB_ENV_PUBLIC_ORIGIN = "PULSE_WEB_PUBLIC_ORIGIN"
WEB_ENV_INSECURE_COOKIES = "PULSE_WEB_INSECURE_COOKIES"


def app_from_environment() -> Starlette:
    """The app of one `pulse web --workers N` worker process. Each worker builds its own app
    (engine, progress consumer) at start, from the settings and the web options the parent
    command put in the environment."""
    settings = load_settings()
    configure_logging(settings)
    config = WebConfig(
        cookie_secure=os.environ.get(WEB_ENV_INSECURE_COOKIES) != "1",
        public_origin=os.environ.get(WEB_ENV_PUBLIC_ORIGIN) or None,
    )
    return create_app(settings, config=config)
