"""`pulse health`: liveness checks for container healthchecks and operators; and the
`--health-port` option every long-running command shares."""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

from storage.db import make_engine, session_factory
from storage.heartbeats import heartbeat_age, list_heartbeats


def register(commands: Any) -> None:
    health = commands.add_parser(
        "health",
        help="check a worker's heartbeat",
        description="Exit 0 when the named worker's heartbeat is younger than --max-age "
        "seconds; without a name, list every worker's heartbeat.",
    )
    health.add_argument("worker", nargs="?", help="worker name, e.g. extract-1")
    health.add_argument(
        "--local",
        metavar="KIND",
        help="check this host's worker of KIND (named KIND-HOSTNAME), for container healthchecks",
    )
    health.add_argument("--max-age", type=float, default=60.0)
    health.set_defaults(handler=_health)


def _health(args: argparse.Namespace) -> int:
    if args.local:
        args.worker = f"{args.local}-{socket.gethostname()}"
    engine = make_engine(args.settings.database_url)
    try:
        with session_factory(engine)() as session:
            if args.worker is None:
                for row in list_heartbeats(session):
                    state = "ready" if row.ready else "starting"
                    print(
                        f"{row.name}\t{row.kind}\t{row.host}:{row.pid}\t{state}\t{row.beat_at:%FT%TZ}"
                    )
                return 0
            age = heartbeat_age(session, args.worker)
    finally:
        engine.dispose()
    if age is None:
        print(f"{args.worker}: no heartbeat yet", file=sys.stderr)
        return 1
    if age.total_seconds() > args.max_age:
        print(f"{args.worker}: last heartbeat {age.total_seconds():.0f}s ago", file=sys.stderr)
        return 1
    print(f"{args.worker}: alive ({age.total_seconds():.1f}s ago)")
    return 0


def add_health_port(parser: Any) -> None:
    """`--health-port`: serve /healthz, /readyz and /metrics on that port."""
    parser.add_argument(
        "--health-port",
        type=int,
        metavar="PORT",
        help="serve /healthz, /readyz and Prometheus /metrics on this port (default: HEALTH_PORT)",
    )


def health_port(args: argparse.Namespace) -> int | None:
    port: int | None = args.health_port
    return port if port is not None else args.settings.health_port
