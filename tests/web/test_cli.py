"""`pulse web` is registered and its options parse (the group list is easy to lose in a merge)."""

from __future__ import annotations

import socket

import pytest

from pulse.cli import build_parser
from pulse.errors import ConfigurationError
from web.listen import listening_socket


def test_pulse_web_is_a_command() -> None:
    args = build_parser().parse_args(
        ["web", "--port", "8123", "--workers", "2", "--public-origin", "https://pulse.example"]
    )
    assert (args.port, args.workers, args.public_origin) == (8123, 2, "https://pulse.example")
    assert args.insecure_cookies is False


def test_the_shared_socket_says_tcp_so_responses_are_not_delayed() -> None:
    sock = listening_socket("127.0.0.1", 0, inheritable=True)
    try:
        assert sock.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY only then
        assert sock.get_inheritable()  # the worker processes share it
        taken = sock.getsockname()[1]
        sock.listen()
        with pytest.raises(ConfigurationError, match=f"cannot listen on 127.0.0.1:{taken}"):
            listening_socket("127.0.0.1", taken)
        with pytest.raises(ConfigurationError, match=r"\(choose another --port\)"):
            listening_socket("127.0.0.1", taken, hint="choose another --port")
    finally:
        sock.close()
