"""Running `pulse flow` shards (and other `pulse` commands) as real processes in tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def pulse_env(
    database_url: str, rabbitmq_url: str, state_dir: Path, **extra: str
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "RABBITMQ_", "ETL_", "QDRANT_"))
    }
    env.update(
        DATABASE_URL=database_url,
        RABBITMQ_URL=rabbitmq_url,
        STATE_DIR=str(state_dir),
        ETL_PARTITIONS="4",
        ETL_BATCH_MAX_DELAY_MS="200",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def start_pulse(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pulse.cli", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@contextmanager
def running_pulse(env: dict[str, str], *args: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A `pulse` command for the block; SIGTERM (then SIGKILL) at its end."""
    process = start_pulse(env, *args, log=log)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_pulse(env: dict[str, str], *args: str, log: Path, timeout: float = 180) -> None:
    process = start_pulse(env, *args, log=log)
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        process.kill()
        process.wait()
        message = f"pulse {' '.join(args)} ran over {timeout} s:\n{log.read_text()}"
        raise AssertionError(message) from exc
    assert code == 0, f"pulse {' '.join(args)} exited {code}:\n{log.read_text()[-5000:]}"
