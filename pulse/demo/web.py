"""The admin web UI served from the demo's own process (uvicorn in a thread), so that in embedded
mode, where there is no RabbitMQ to carry progress events, the demo can hand them to the
page's live stream directly."""

from __future__ import annotations

import socket

from pulse.errors import FatalError
from pulse.jobs import ProgressEvent
from pulse.lifecycle import Running
from pulse.serving import ServerDidNotStart, ThreadedServer, listening_socket
from pulse.settings import Settings

_START_TIMEOUT = 30.0


def listen(host: str, port: int) -> socket.socket:
    """The web UI's socket, bound before anything slow happens."""
    return listening_socket(host, port, hint="choose another --port")


class WebServer(Running):
    def __init__(self, settings: Settings, sock: socket.socket) -> None:
        from web import create_app

        self._sock = sock
        host, port = sock.getsockname()[:2]
        if host in ("0.0.0.0", "::"):  # noqa: S104 - shown as loopback, this machine's browser
            host = "127.0.0.1"
        self.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self.app = create_app(settings)
        self._server = ThreadedServer(self.app, sock, name="demo-web")

    def start(self) -> WebServer:
        try:
            self._server.start(timeout=_START_TIMEOUT)
        except ServerDidNotStart:
            self._sock.close()
            raise FatalError(f"the web UI did not start on {self.url}") from None
        return self

    @property
    def alive(self) -> bool:
        return self._server.alive

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
        self._server.stop()
        self._sock.close()
