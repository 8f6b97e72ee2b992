"""`with thing:` for the project's long-lived objects: `Closing` for those that are ready once
built and end with `close()` (broker connections, HTTP clients), `Running` for those that
`start()` and `stop()` (servers, child processes)."""

from __future__ import annotations

from typing import Self


class Closing:
    """The block's end closes the object."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class Running(Closing):
    """The block starts the object (`start` returns it) and its end stops it."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> Self:
        return self.start()
