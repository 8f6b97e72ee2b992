"""The admin web UI served from the demo's own process (uvicorn in a thread), so that in embedded
mode, where there is no RabbitMQ to carry progress events, the demo can hand them to the
page's live stream directly."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from pulse.errors import FatalError
from pulse.jobs import ProgressEvent
from pulse.settings import Settings
from web.listen import listening_socket

_START_TIMEOUT = 30.0


def listen(host: str, port: int) -> socket.socket:
    """The web UI's socket, bound before anything slow happens."""
    return listening_socket(host, port, hint="choose another --port")


class WebServer:
    def __init__(self, settings: Settings, sock: socket.socket) -> None:
        from web import create_app

        self._sock = sock
        host, port = sock.getsockname()[:2]
        if host in ("0.0.0.0", "::"):  # noqa: S104 - shown as loopback, this machine's browser
            host = "127.0.0.1"
        self.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self.app = create_app(settings)
        config = uvicorn.Config(self.app, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="demo-web", daemon=True
        )

    def start(self) -> WebServer:
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise FatalError(f"the web UI did not start on {self.url}")
            time.sleep(0.02)
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def publish(self, routing_key: str, body: bytes) -> None:
        """A progress event for the live job cards (a `ProgressEmitter` send function)."""
        self.app.state.web.hub.publish_threadsafe(ProgressEvent.from_json(body))

    def qdrant_points(self, tenant_id: int) -> int:
        """Qdrant's points of the tenant through the web's own client: in Qdrant local mode the
        directory takes one client at a time, and the web keeps its client for the Qdrant page."""
        return sum(c.qdrant_points for c in self.app.state.web.vectors.coverage(tenant_id))

    def release_qdrant(self) -> None:
        """Close the web's Qdrant client (it reopens on the next Qdrant page), so that the
        demo's pipeline can open Qdrant local mode's directory."""
        self.app.state.web.vectors.close()

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=15)
        self._sock.close()

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
