"""`pulse web --workers 2` as a real process: a burst of new connections is spread over both
worker processes (each listens on its own SO_REUSEPORT socket), and the port stays taken for
other programs."""

from __future__ import annotations

import os
import socket
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.connectors.extract.env import KEY
from tests.dataflows.pipeline.processes import running_pulse
from tests.pulse.ops.scrape import free_port, status, wait_until
from tests.web.conftest import JWT_SECRET

pytestmark = pytest.mark.integration

CONNECTIONS = 60


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(child) for child in f.read().split()]


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


ESTABLISHED, LISTEN = "01", "0A"


def _sockets_on(port: int, state: str) -> set[str]:
    """Inodes of the TCP sockets in `state` whose local port is `port` (the server's ends)."""
    found = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and fields[3] == state:
                found.add(fields[9])
    return found


def _per_worker(pid: int, port: int, state: str) -> dict[int, int]:
    """For each child of `pid`, how many of its sockets on `port` are in `state`."""
    sockets = _sockets_on(port, state)
    return {child: len(_socket_inodes(child) & sockets) for child in _children(pid)}


def test_a_burst_of_connections_is_spread_over_the_workers(
    pg_engine: Engine, tmp_path: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "RABBITMQ_"))}
    env.update(
        DATABASE_URL=pg_engine.url.render_as_string(hide_password=False),
        ENCRYPTION_KEY=KEY,
        JWT_SECRET=JWT_SECRET,
        STATE_DIR=str(tmp_path / "state"),
    )
    args = ("web", "--port", str(port), "--workers", "2")
    with running_pulse(env, *args, log=tmp_path / "web.log") as process, ExitStack() as clients:
        wait_until(lambda: status(port, "/readyz") == 200, "/readyz", process=process)

        def listening() -> bool:
            return sorted(_per_worker(process.pid, port, LISTEN).values())[-2:] == [1, 1]

        wait_until(listening, "a listening socket in each worker", process=process)

        # The parent keeps the port: a program without SO_REUSEPORT cannot bind it.
        with socket.socket() as intruder, pytest.raises(OSError, match="Address already in use"):
            intruder.bind(("127.0.0.1", port))

        for _ in range(CONNECTIONS):  # all at once, as 20 browser tabs or a load test do
            clients.enter_context(socket.create_connection(("127.0.0.1", port)))
        per_worker: dict[int, int] = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            per_worker = _per_worker(process.pid, port, ESTABLISHED)
            if sum(per_worker.values()) == CONNECTIONS:
                break
            time.sleep(0.1)
        counts = sorted(n for n in per_worker.values() if n)
        assert sum(counts) == CONNECTIONS, per_worker
        # A hash of each connection's addresses picks the worker: a worker gets fewer than a
        # quarter of 60 with a chance of about 1 in 10,000. A shared socket gave one most.
        assert len(counts) == 2, per_worker
        assert counts[0] >= CONNECTIONS // 4, per_worker
