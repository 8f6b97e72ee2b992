"""A tiny HTTP server any long-running process can start: `/healthz` (the process is alive and
its main loop turns), `/readyz` (it can do its work: database and broker reachable), and
`/metrics` (Prometheus text format).

It runs in a daemon thread of the process it reports on, so a wedged main loop shows as a
failing liveness check (the `live` callable), not as a silent server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

Check = Callable[[], bool]


def _always() -> bool:
    return True


class HealthServer:
    def __init__(
        self,
        port: int,
        *,
        live: Check = _always,
        ready: Check = _always,
        registry: CollectorRegistry | None = None,
        host: str = "0.0.0.0",  # noqa: S104 - probes and scrapers come from outside the container
    ) -> None:
        self._checks = {"/healthz": live, "/readyz": ready}
        self._registry = registry
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("health and metrics on port %s", self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        checks, registry = self._checks, self._registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics" and registry is not None:
                    self._reply(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif path in checks:
                    ok, detail = _run(checks[path])
                    self._reply(200 if ok else 503, detail.encode(), "text/plain; charset=utf-8")
                else:
                    self._reply(404, b"not found\n", "text/plain; charset=utf-8")

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("health request: " + format, *args)

        return Handler


def _run(check: Check) -> tuple[bool, str]:
    try:
        ok = bool(check())
    except Exception as exc:  # a failing check answers 503 with the reason, never 500
        return False, f"failing: {exc!r}\n"
    return ok, "ok\n" if ok else "failing\n"
