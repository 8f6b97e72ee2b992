"""`pulse web` is registered and its options parse (the group list is easy to lose in a merge)."""

from __future__ import annotations

import pickle
import socket
from collections.abc import Callable

import pytest

from pulse.cli import build_parser
from pulse.errors import ConfigurationError
from pulse.serving import listening_socket
from web.listen import worker_socket


def test_pulse_web_is_a_command() -> None:
    args = build_parser().parse_args(
        ["web", "--port", "8123", "--workers", "2", "--public-origin", "https://pulse.example"]
    )
    assert (args.port, args.workers, args.public_origin) == (8123, 2, "https://pulse.example")
    assert args.insecure_cookies is False


@pytest.mark.parametrize("make", [listening_socket, worker_socket])
def test_the_socket_says_tcp_so_responses_are_not_delayed(
    make: Callable[..., socket.socket],
) -> None:
    sock = make("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY only then
        taken = sock.getsockname()[1]
        sock.listen()
        with pytest.raises(ConfigurationError, match=f"cannot listen on 127.0.0.1:{taken}"):
            listening_socket("127.0.0.1", taken)
        with pytest.raises(ConfigurationError, match=r"\(choose another --port\)"):
            listening_socket("127.0.0.1", taken, hint="choose another --port")
    finally:
        sock.close()


def test_a_worker_unpickling_the_parents_socket_gets_its_own_on_the_same_port() -> None:
    parent = worker_socket("127.0.0.1", 0)
    try:
        worker = pickle.loads(pickle.dumps(parent))
        try:
            assert worker.fileno() != parent.fileno()
            assert worker.getsockname() == parent.getsockname()
            assert worker.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            assert worker.proto == socket.IPPROTO_TCP
        finally:
            worker.close()
    finally:
        parent.close()
