"""The listening sockets of `pulse web --workers N`: one of its own for each worker process."""

from __future__ import annotations

import socket
from typing import Any

from pulse.serving import listening_socket


def worker_socket(host: str, port: int) -> socket.socket:
    """The parent's hold on the port (see `WorkerSocket`)."""
    return listening_socket(host, port, kind=WorkerSocket, reuse_port=True)


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
        return (worker_socket, (host, port))
