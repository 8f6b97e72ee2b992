"""`pulse demo`: the main job end to end on this machine (see `pulse.demo`)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any


def register(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="run the whole product on a simulated Jira and GitHub, then serve the UI",
        description="Start the local API simulator, migrate the database, create (or reuse) "
        "the demo tenant with an admin and Jira/GitHub integrations at the simulator, run one "
        "full job (extract, transform, load, vectorize) with progress bars, check the loaded "
        "counts against the simulator, then serve the web UI until Ctrl-C. Without "
        "RABBITMQ_URL everything runs in this process on SQLite and Qdrant local mode; with "
        "DATABASE_URL (PostgreSQL) and RABBITMQ_URL set, the demo starts the worker processes "
        "(extract, transform/load shards, vectorize, scheduler) and stops them at exit.",
    )
    demo.add_argument(
        "--no-serve",
        action="store_true",
        help="do not serve the UI: print one JSON line with the loaded and the simulator's "
        "counts, exit 0 when they match and every run succeeded, 1 otherwise",
    )
    demo.add_argument("--host", default="127.0.0.1", help="web UI interface (default 127.0.0.1)")
    demo.add_argument("--port", type=int, default=8000, help="web UI port (default 8000)")
    demo.add_argument(
        "--simulator-port", type=int, default=8900, help="API simulator port; 0: any free one"
    )
    demo.add_argument(
        "--state-dir",
        type=Path,
        help="state directory (default STATE_DIR, ./.pulse); the SQLite file and the Qdrant "
        "directory move with it unless DATABASE_URL or QDRANT_PATH are set",
    )
    demo.add_argument(
        "--scale",
        help="simulated data as issues=N,prs=M,projects=P,repos=R,histories=H (default: 600 "
        "issues and 200 pull requests, under a minute on two cores)",
    )
    demo.add_argument("--seed", type=int, help="simulated data seed")
    demo.add_argument(
        "--shards", type=int, default=1, help="with RABBITMQ_URL: shards per dataflow stage"
    )
    demo.add_argument(
        "--timeout", type=float, default=900.0, help="seconds the job may take (default 900)"
    )
    demo.set_defaults(handler=_demo)


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the demo the way Ctrl-C does, cleaning up


def _demo(args: argparse.Namespace) -> int:
    from pulse.demo import DEMO_SCALE, DEMO_SEED, Dataset, DemoOptions, demo_settings, run_demo

    settings = demo_settings(args.settings, args.state_dir)
    if "log_level" not in settings.model_fields_set:
        # Progress bars and the login are the demo's output; INFO logs of every page and
        # request would bury them (LOG_LEVEL=INFO brings them back).
        logging.getLogger().setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _interrupt)
    options = DemoOptions(
        dataset=Dataset(
            scale=DEMO_SCALE if args.scale is None else args.scale,
            seed=DEMO_SEED if args.seed is None else args.seed,
        ),
        serve=not args.no_serve,
        host=args.host,
        port=args.port,
        simulator_port=args.simulator_port,
        shards=args.shards,
        timeout=args.timeout,
    )
    report = run_demo(settings, options, out=sys.stderr)
    if args.no_serve:
        print(report.to_json(), flush=True)
        if not report.ok:
            problems = "; ".join(report.problems())
            print(
                f"pulse: error: the demo did not load what the simulator holds: {problems}",
                file=sys.stderr,
            )
            return 1
    return 0
