"""The web UI's listening socket, for `pulse web` (shared by its worker processes) and for the
demo (bound before anything slow, so a busy port fails at once)."""

from __future__ import annotations

import socket

from pulse.errors import ConfigurationError


def listening_socket(
    host: str, port: int, *, inheritable: bool = False, hint: str = ""
) -> socket.socket:
    """A bound TCP socket, made with `IPPROTO_TCP` spelled out. asyncio turns Nagle's algorithm
    off (TCP_NODELAY) only on connections of a socket whose `proto` says TCP; uvicorn's own
    socket has `proto` 0, which leaves every response waiting for a delayed ACK: 44 ms per
    request instead of 2-5 ms, measured on loopback. `hint` ends the error of a busy port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"cannot listen on {host}:{port}: {exc.strerror}{f' ({hint})' if hint else ''}"
        ) from None
    sock.set_inheritable(inheritable)
    return sock
