"""The production path (DATABASE_URL and RABBITMQ_URL set): the demo starts the same processes an
operator runs — an extract worker, K transform and K load shards, a vectorize worker and the
scheduler (which finishes runs and publishes progress) — as `pulse ...` child processes, and
stops them when it ends.

Each child gets its own session (no terminal Ctrl-C reaches it directly), so the demo stops
them in order: SIGTERM, then SIGKILL after a grace period. Every stage is crash-safe, so a
child killed mid-batch loses nothing. Their output goes to log files in the state directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from pulse.errors import FatalError
from pulse.lifecycle import Running
from pulse.settings import Settings

_GRACE_SECONDS = 15.0
_LOG_TAIL = 2000


def demo_commands(shards: int) -> list[tuple[str, list[str]]]:
    """(name, `pulse` arguments) of every process, in start order."""
    commands = [("extract", ["extract", "--name", "demo-extract"])]
    for stage in ("transform", "load"):
        for shard in range(shards):
            commands.append(
                (
                    f"{stage}-{shard}-of-{shards}",
                    ["flow", stage, "--shard", str(shard), "--shards", str(shards)],
                )
            )
    commands.append(("vectorize", ["vectorize", "--name", "demo-vectorize"]))
    commands.append(("scheduler", ["scheduler", "--name", "demo-scheduler"]))
    return commands


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment with the demo's own settings spelled out, every one of them, so each
    child uses the same database, broker, state directory, partitions and Qdrant whatever the
    demo's options changed."""
    env = dict(os.environ)
    for name in Settings.model_fields:
        value = getattr(settings, name)
        variable = name.upper()
        if value is None:
            env.pop(variable, None)
        elif isinstance(value, SecretStr):
            env[variable] = value.get_secret_value()
        elif isinstance(value, bool):
            env[variable] = "true" if value else "false"
        else:
            env[variable] = str(value)
    return env


@dataclass
class _Child:
    name: str
    args: list[str]
    log: Path
    process: subprocess.Popen[bytes]

    def describe(self) -> str:
        return f"`pulse {' '.join(self.args)}`"


class DemoProcesses(Running):
    def __init__(self, settings: Settings, *, shards: int, log_dir: Path) -> None:
        self._settings = settings
        self._shards = shards
        self.log_dir = log_dir
        self._children: list[_Child] = []

    def start(self) -> DemoProcesses:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = child_environment(self._settings)
        try:
            for name, args in demo_commands(self._shards):
                log = self.log_dir / f"{name}.log"
                with log.open("ab") as out:
                    process = subprocess.Popen(
                        [sys.executable, "-m", "pulse.cli", *args],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                self._children.append(_Child(name, args, log, process))
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def names(self) -> list[str]:
        return [child.name for child in self._children]

    def check(self) -> None:
        """Raise when a child has exited: none of them ends by itself."""
        for child in self._children:
            code = child.process.poll()
            if code is not None:
                tail = child.log.read_text(errors="replace")[-_LOG_TAIL:].strip()
                raise FatalError(
                    f"{child.describe()} exited with code {code}; its log is {child.log}:\n{tail}"
                )

    def stop(self) -> None:
        children, self._children = self._children[::-1], []
        for child in children:
            if child.process.poll() is None:
                child.process.terminate()
        for child in children:
            try:
                child.process.wait(timeout=_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
