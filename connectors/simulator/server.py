"""Run the simulator with uvicorn on 127.0.0.1 in a background thread (tests, demo, bench)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import uvicorn

from connectors.simulator.app import build_app
from connectors.simulator.config import SimulatorConfig
from connectors.simulator.faults import FaultKind
from connectors.simulator.simulator import Simulator

_START_TIMEOUT = 10.0


class SimulatorServer:
    """`with SimulatorServer(SimulatorConfig(seed=3)) as sim: httpx.get(sim.jira_url("acme")...)`.

    Port 0 picks a free port. The helpers call the in-process simulator directly, so they work
    the same as the `/_sim/...` endpoints without an HTTP round trip.
    """

    def __init__(
        self,
        config: SimulatorConfig | Simulator | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.simulator = config if isinstance(config, Simulator) else Simulator(config)
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def config(self) -> SimulatorConfig:
        return self.simulator.config

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the simulator server is not running; call start() first")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def jira_url(self, site: str) -> str:
        self.simulator.site_state(site)
        return f"{self.base_url}/jira/{site}"

    def github_url(self, site: str) -> str:
        self.simulator.site_state(site)
        return f"{self.base_url}/github/{site}"

    def start(self) -> SimulatorServer:
        if self._thread is not None:
            return self
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose
        # proto says TCP, and without it Nagle plus delayed ACKs add ~40 ms to every response.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self._requested_port))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            build_app(self.simulator),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"simulator-{self._port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the simulator did not start on {self.host}:{self._port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server, self._thread, self._port = None, None, None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the simulator's Python API ----------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return self.simulator.stats()

    def reset_stats(self) -> None:
        self.simulator.reset_stats()

    def truth(self, kind: str, site: str) -> dict[str, Any]:
        return self.simulator.truth(kind, site)

    def inject_fault(self, kind: FaultKind | str, **options: Any) -> dict[str, Any]:
        return self.simulator.inject_fault(kind, **options)

    def clear_faults(self) -> None:
        self.simulator.clear_faults()

    def touch(
        self, kind: str, site: str, ids: Sequence[str] | None = None, count: int | None = None
    ) -> list[str]:
        return self.simulator.touch(kind, site, ids=ids, count=count)

    def delete(
        self, kind: str, site: str, ids: Sequence[str] | None = None, count: int | None = None
    ) -> list[str]:
        return self.simulator.delete(kind, site, ids=ids, count=count)
