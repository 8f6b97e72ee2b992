"""The web UI's listening sockets: one for the demo and single-process `pulse web` (bound before
anything slow, so a busy port fails at once), and one per worker process for `pulse web
--workers N`."""

from __future__ import annotations

import socket
from typing import Any

from pulse.errors import ConfigurationError


def listening_socket(
    host: str, port: int, *, per_worker: bool = False, hint: str = ""
) -> socket.socket:
    """A bound TCP socket, made with `IPPROTO_TCP` spelled out. asyncio turns Nagle's algorithm
    off (TCP_NODELAY) only on connections of a socket whose `proto` says TCP; uvicorn's own
    socket has `proto` 0, which leaves every response waiting for a delayed ACK: 44 ms per
    request instead of 2-5 ms, measured on loopback. `hint` ends the error of a busy port.

    With `per_worker`, the socket is a `WorkerSocket`: the parent's hold on the port, which
    each worker process turns into a listening socket of its own."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = WorkerSocket if per_worker else socket.socket
    sock = kind(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if per_worker:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"cannot listen on {host}:{port}: {exc.strerror}{f' ({hint})' if hint else ''}"
        ) from None
    return sock


class WorkerSocket(socket.socket):
    """A socket bound with SO_REUSEPORT that a worker process, unpickling it, receives as a new
    socket of its own on the same address (`pulse web --workers N` hands one to each worker).

    Why: workers sharing one listening socket split connections by who accepts first, and the
    first to wake takes a whole burst. Measured in bench/web.py, 20 keep-alive clients arriving
    together: one worker spent 19.4 s of CPU and the other 4.1 s. With a socket each, the
    kernel spreads new connections over the workers by a hash of their addresses.

    The parent keeps its own bound (never listening) socket, so the port stays taken: another
    program fails to bind it, unless it too sets SO_REUSEPORT as the same user. A worker that
    dies drops the connections waiting in its queue; its replacement binds a new socket."""

    def __reduce__(self) -> tuple[Any, ...]:
        host, port = self.getsockname()[:2]
        return (_worker_socket, (host, port))


def _worker_socket(host: str, port: int) -> socket.socket:
    return listening_socket(host, port, per_worker=True)
