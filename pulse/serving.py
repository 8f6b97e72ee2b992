"""Serving an ASGI app from this process: a bound listening socket, and uvicorn in a background
thread on it (the API simulator, the demo's web UI). `pulse web` serves with uvicorn itself."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Self

import uvicorn

from pulse.errors import ConfigurationError


def listening_socket(
    host: str,
    port: int,
    *,
    hint: str = "",
    kind: type[socket.socket] = socket.socket,
    reuse_port: bool = False,
) -> socket.socket:
    """A bound TCP socket, made with `IPPROTO_TCP` spelled out. asyncio turns Nagle's algorithm
    off (TCP_NODELAY) only on connections of a socket whose `proto` says TCP; uvicorn's own
    socket has `proto` 0, which leaves every response waiting for a delayed ACK: 44 ms per
    request instead of 2-5 ms, measured on loopback. `hint` ends the error of a busy port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = kind(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"cannot listen on {host}:{port}: {exc.strerror}{f' ({hint})' if hint else ''}"
        ) from None
    return sock


class ServerDidNotStart(RuntimeError):
    pass


class ThreadedServer:
    """uvicorn serving `app` on `sock` from a daemon thread; `start` returns once it accepts
    connections (or raises `ServerDidNotStart`), `stop` asks it to finish and joins it."""

    def __init__(self, app: Any, sock: socket.socket, *, name: str, **config: Any) -> None:
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, **config)
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=name, daemon=True
        )

    def start(self, timeout: float) -> Self:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop(timeout=5)
                raise ServerDidNotStart(f"{self._thread.name} did not start in {timeout} s")
            time.sleep(0.01)
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 15) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
