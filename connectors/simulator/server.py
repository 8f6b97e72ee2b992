"""Run the simulator with uvicorn on 127.0.0.1 in a background thread (tests, demo, bench)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.simulator.app import build_app
from connectors.simulator.config import SimulatorConfig
from connectors.simulator.faults import FaultKind
from connectors.simulator.simulator import Simulator
from pulse.lifecycle import Running
from pulse.serving import ServerDidNotStart, ThreadedServer, listening_socket

_START_TIMEOUT = 10.0


class SimulatorServer(Running):
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
        self._server: ThreadedServer | None = None

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
        if self._server is not None:
            return self
        sock = listening_socket(self.host, self._requested_port)
        self._port = sock.getsockname()[1]
        server = ThreadedServer(
            build_app(self.simulator),
            sock,
            name=f"simulator-{self._port}",
            lifespan="off",
            timeout_keep_alive=30,
        )
        try:
            self._server = server.start(timeout=_START_TIMEOUT)
        except ServerDidNotStart:
            sock.close()
            raise RuntimeError(f"the simulator did not start on {self.host}:{self._port}") from None
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(timeout=10)
        self._server, self._port = None, None

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
