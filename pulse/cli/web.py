"""`pulse web`: serve the admin web UI with uvicorn (one process; run several behind a load
balancer to scale, each with its own progress consumer). The app answers /healthz, /readyz
and /metrics itself; `--health-port` serves them on a port of their own as well."""

from __future__ import annotations

import argparse
from typing import Any

from pulse.cli.health import add_health_port, health_port
from pulse.errors import ConfigurationError


def register(commands: Any) -> None:
    web = commands.add_parser(
        "web",
        help="serve the admin web UI",
        description="Serve the admin web UI (Starlette + htmx) with uvicorn. Session cookies "
        "are Secure: browsers accept them on https:// and on http://localhost or 127.0.0.1.",
    )
    web.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    web.add_argument("--port", type=int, default=8000)
    web.add_argument(
        "--public-origin",
        metavar="URL",
        help="the origin browsers use, e.g. https://pulse.example.com (CSRF origin check); "
        "default: the request's own origin",
    )
    web.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        help="proxies trusted for X-Forwarded-Proto/For (uvicorn's option)",
    )
    web.add_argument(
        "--insecure-cookies",
        action="store_true",
        help="drop the Secure flag (only for plain http on a host other than localhost)",
    )
    web.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (each with its own database pool and progress consumer); "
        "about one per core",
    )
    web.add_argument("--no-access-log", action="store_true", help="do not log every request")
    add_health_port(web)
    web.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from pulse.ops.health import HealthServer
    from web import WebConfig, create_app
    from web.app import WEB_ENV_INSECURE_COOKIES, WEB_ENV_PUBLIC_ORIGIN
    from web.listen import worker_socket

    port = health_port(args)
    if port is not None and args.workers > 1:
        raise ConfigurationError(
            "--health-port (or HEALTH_PORT) serves one process; with --workers N, probe "
            "/healthz, /readyz and /metrics on --port instead (each answer is one worker's)"
        )
    options = {
        "host": args.host,
        "port": args.port,
        "log_level": args.settings.log_level.lower(),
        "proxy_headers": True,
        "forwarded_allow_ips": args.forwarded_allow_ips,
        "access_log": not args.no_access_log,
    }
    if args.workers > 1:
        from uvicorn.supervisors import Multiprocess

        # Worker processes import the app themselves; the web options travel by environment.
        os.environ[WEB_ENV_INSECURE_COOKIES] = "1" if args.insecure_cookies else "0"
        os.environ[WEB_ENV_PUBLIC_ORIGIN] = args.public_origin or ""
        server = uvicorn.Config(
            "web.app:app_from_environment",
            factory=True,
            workers=args.workers,
            # A worker busy on a loaded host must not be killed (and its requests dropped)
            # for answering the supervisor's ping late; uvicorn's default is 5 s.
            timeout_worker_healthcheck=30,
            **options,
        )
        # Each worker gets its own listening socket on the port (see WorkerSocket).
        hold = worker_socket(args.host, args.port)
        Multiprocess(server, sockets=[hold]).run()
        return 0
    config = WebConfig(cookie_secure=not args.insecure_cookies, public_origin=args.public_origin)
    app = create_app(args.settings, config=config)
    health = None
    if port is not None:
        state = app.state
        health = HealthServer(
            port, live=state.live, ready=state.ready, registry=state.metrics.registry
        ).start()
    try:
        uvicorn.run(app, **options)
    finally:
        if health is not None:
            health.stop()
    return 0
