"""A lean HTTP/1.1 keep-alive GET client for load generation on the machine under test.

The benchmark's clients share the 2 cores with the server they measure, so what a client
spends per request is taken from the server and shows up as server latency. httpx spends
about 2.5 ms of CPU a request on the bench machine, a quarter of what the server spends on a
page; this client, one socket and a few `bytes` operations a request, about a tenth of that.
It is what load generators such as wrk do, in Python: one connection per client, requests in
sequence, the whole response read (status line, headers, a `Content-Length` body).
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class ResponseError(Exception):
    pass


class Connection:
    """One keep-alive connection; `get` sends a request and returns (status, body)."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        url = urlsplit(base)
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 80
        lines = [f"Host: {url.netloc}", *(f"{k}: {v}" for k, v in headers.items())]
        self._head = "\r\n".join(lines).encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Connection:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()

    async def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        if self._reader is None or self._writer is None:
            raise RuntimeError("open the connection with `async with` first")
        extra = "".join(f"\r\n{k}: {v}" for k, v in (headers or {}).items()).encode()
        self._writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self._head + extra)
        self._writer.write(b"\r\n\r\n")
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *fields = head[:-4].split(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length = None
        for field in fields:
            name, _, value = field.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                raise ResponseError(f"{path}: chunked responses are not supported here")
        if length is None:
            raise ResponseError(f"{path}: the response has no Content-Length")
        return status, await self._reader.readexactly(length)
