"""Every benchmark, one after another: one JSON line per benchmark, then a summary line.

    .venv/bin/python bench/run_all.py [--only NAME ...] [--quick] [--extra NAME='ARGS'] [--dry-run]

Each benchmark runs as its own process (`python bench/<name>.py`), alone, so none measures
another's load; its progress (stderr) passes straight through. Its one JSON line of figures
is passed on inside this script's line for it:

    {"benchmark": "extract", "ok": true, "exit_code": 0, "seconds": 88.4,
     "command": [...], "figures": {...the benchmark's own line...}}

and a final line sums up: {"summary": true, "ok": ..., "failed": [...], "date": ..., "machine":
{...}}, which is what bench/README.md records beside the figures. `--quick` passes each
benchmark smaller sizes (a smoke test of the whole suite in minutes, not figures to record);
`--extra NAME='ARGS'` adds arguments to one benchmark; `--dry-run` prints the commands only.
Exit code 0 when every benchmark exited 0 and printed its JSON line, 1 otherwise, 130 on
Ctrl-C (the running benchmark gets SIGTERM first, so it drops its throwaway databases).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

# In the order they run: the cheap ones first, so a broken set-up shows early.
BENCHMARKS = ("progress", "vectorize", "web", "extract", "replay", "pipeline")
QUICK = {
    "progress": ["--runs", "4", "--commits", "40"],
    "vectorize": ["--facts", "100", "--rounds", "1"],
    "web": ["--items", "5000", "--clients", "4", "--requests", "10"],
    "extract": ["--issues", "1000", "--prs", "300"],
    "replay": ["--issues", "5000"],
    "pipeline": ["--issues", "5000", "--tenants", "2", "--shard-issues", "2000"],
}
_STOP_GRACE = 60.0  # seconds a benchmark gets to drop its databases after SIGTERM


def _terminate(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def command_for(name: str, *, quick: bool, extra: list[str]) -> list[str]:
    script = f"bench/{name}.py"  # relative: the benchmarks run from ROOT
    return [sys.executable, script, *(QUICK[name] if quick else []), *extra]


def _figures(stdout: str) -> dict[str, Any] | None:
    """The benchmark's JSON line: the last non-empty line of its stdout, if it is an object."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        return None
    try:
        figures = json.loads(lines[-1])
    except ValueError:
        return None
    return figures if isinstance(figures, dict) else None


def run_one(name: str, command: list[str]) -> dict[str, Any]:
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        stdout, _ = process.communicate()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=_STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
    figures = _figures(stdout)
    result: dict[str, Any] = {
        "benchmark": name,
        "ok": process.returncode == 0 and figures is not None,
        "exit_code": process.returncode,
        "seconds": round(time.monotonic() - started, 1),
        "command": command[1:],
        "figures": figures,
    }
    if process.returncode == 0 and figures is None:
        result["error"] = "no JSON line on stdout"
    elif process.returncode != 0:
        result["error"] = f"exited with code {process.returncode}"
    return result


def _machine() -> dict[str, Any]:
    memory = None
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory = round(pages * size / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_gb": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _extras(values: list[str]) -> dict[str, list[str]]:
    extras: dict[str, list[str]] = {}
    for value in values:
        name, sep, args = value.partition("=")
        if not sep or name not in BENCHMARKS:
            raise SystemExit(f"run_all: --extra wants NAME='ARGS' with NAME one of {BENCHMARKS}")
        extras.setdefault(name, []).extend(shlex.split(args))
    return extras


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--only",
        nargs="+",
        choices=BENCHMARKS,
        metavar="NAME",
        help=f"run only these, in the usual order ({', '.join(BENCHMARKS)})",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a smoke test")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME='ARGS'",
        help="more arguments for one benchmark, e.g. --extra pipeline='--shards 2'",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print each command's JSON line, run nothing"
    )
    args = parser.parse_args(argv)
    extras = _extras(args.extra)
    chosen = [name for name in BENCHMARKS if args.only is None or name in args.only]
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    date = datetime.now(UTC).isoformat(timespec="seconds")
    results: list[dict[str, Any]] = []
    interrupted = False
    for name in chosen:
        command = command_for(name, quick=args.quick, extra=extras.get(name, []))
        if args.dry_run:
            print(json.dumps({"benchmark": name, "dry_run": True, "command": command[1:]}))
            continue
        print(f"run_all: {name}: {shlex.join(command[1:])}", file=sys.stderr, flush=True)
        try:
            result = run_one(name, command)
        except KeyboardInterrupt:
            interrupted = True
            break
        results.append(result)
        print(json.dumps(result), flush=True)
    failed = [r["benchmark"] for r in results if not r["ok"]]
    summary = {
        "summary": True,
        "ok": not failed and not interrupted,
        "benchmarks": [r["benchmark"] for r in results] if not args.dry_run else chosen,
        "failed": failed,
        "interrupted": interrupted,
        "quick": args.quick,
        "dry_run": args.dry_run,
        "seconds": round(time.monotonic() - started, 1),
        "date": date,
        "machine": _machine(),
    }
    print(json.dumps(summary), flush=True)
    if interrupted:
        return 130
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
