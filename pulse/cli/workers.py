"""Long-running worker processes: `pulse extract`."""

from __future__ import annotations

import argparse
import socket
from typing import Any

from pulse.cli.health import add_health_port, health_port


def register(commands: Any) -> None:
    extract = commands.add_parser(
        "extract",
        help="run an extract worker (with its outbox relay)",
        description="Consume job-run requests from etl.extract, fetch pages into the raw store, "
        "and relay committed raw records to the etl.raw streams. Run several side by side.",
    )
    extract.add_argument(
        "--name",
        default=f"extract-{socket.gethostname()}",
        help="process name, unique per worker (default: extract-HOSTNAME; "
        "`pulse health --local extract` checks that one)",
    )
    add_health_port(extract)
    extract.set_defaults(handler=_extract)


def _extract(args: argparse.Namespace) -> None:
    from connectors.extract.service import run_extract_process

    run_extract_process(args.settings, name=args.name, health_port=health_port(args))
