"""What every benchmark script shares: progress lines on stderr, SIGTERM unwinding like Ctrl-C,
and a throwaway PostgreSQL database dropped at the end however the run ends.

The scripts run as `python bench/NAME.py`, so this directory is on `sys.path` and they import
this module as `support`.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

_STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


def _unwind(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def unwind_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the throwaway database and vhosts are dropped."""
    signal.signal(signal.SIGTERM, _unwind)


@contextmanager
def throwaway_database(admin_url: str, prefix: str = "pulse_bench") -> Iterator[str]:
    """A fresh database `PREFIX_<pid>` on the server of `admin_url`; yields its URL."""
    name = f"{prefix}_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # a reused pid's leftover
        admin.execute(f'CREATE DATABASE "{name}"')
    progress(f"created database {name}")
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        progress(f"dropped database {name}")
