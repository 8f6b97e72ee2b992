"""`pulse simulator serve`: the local Jira and GitHub API simulator."""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: Any) -> None:
    sim = commands.add_parser(
        "simulator", help="local Jira/GitHub API simulator", description="The API simulator."
    )
    sub = sim.add_subparsers(dest="simulator_command", metavar="ACTION", required=True)
    serve = sub.add_parser(
        "serve",
        help="serve seeded synthetic Jira and GitHub APIs",
        description="Serve seeded synthetic Jira and GitHub APIs on 127.0.0.1.",
    )
    serve.add_argument("--port", type=int, default=8900)
    serve.add_argument("--seed", type=int, default=1)
    serve.add_argument(
        "--scale", default="small", help="small | medium | large | issues=N,prs=M,..."
    )
    serve.add_argument("--sites", default="acme,globex", help="comma-separated site names")
    serve.add_argument("--rate-limit", type=int, default=None, help="requests per window")
    serve.set_defaults(handler=_serve, needs_settings=False)


def _serve(args: argparse.Namespace) -> None:
    from connectors.simulator.cli import serve_command

    serve_command(
        port=args.port,
        seed=args.seed,
        scale=args.scale,
        sites=args.sites,
        rate_limit=args.rate_limit,
    )
