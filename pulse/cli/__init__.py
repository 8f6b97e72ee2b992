"""The `pulse` command. Each command group lives in its own module and registers itself."""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import io
import signal
import sys
from collections.abc import Callable, Sequence

from pulse.cli import (
    admin,
    db,
    demo,
    flow,
    health,
    jobs,
    replay,
    simulator,
    vectorize,
    web,
    workers,
)
from pulse.errors import PulseError
from pulse.settings import configure_logging, load_settings

_GROUPS = (db, admin, simulator, workers, flow, replay, vectorize, jobs, web, health, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pulse",
        description="Pulse ETL: Jira and GitHub into PostgreSQL and Qdrant, per tenant.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in _GROUPS:
        group.register(commands)
    return parser


def _dump_stacks_on_sigusr1() -> None:
    """`kill -USR1 <pid>` prints every thread's stack to stderr and the process goes on: how to
    see where a stuck worker (or a demo that will not stop) is waiting."""
    # The process's own stderr, not sys.stderr: a caller may have replaced that with a stream
    # that has no file descriptor. Without any, the signal keeps its default action.
    stderr = sys.__stderr__
    if stderr is not None:
        with contextlib.suppress(ValueError, io.UnsupportedOperation):
            faulthandler.register(signal.SIGUSR1, file=stderr, all_threads=True)


def main(argv: Sequence[str] | None = None) -> int:
    _dump_stacks_on_sigusr1()
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int | None] = args.handler
    try:
        if getattr(args, "needs_settings", True):
            args.settings = load_settings()
            configure_logging(args.settings)
        return handler(args) or 0
    except PulseError as exc:
        print(f"pulse: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pulse: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
