"""Liveness and readiness of a web process, asked from another thread (the health server of
`pulse web --health-port`): alive while its event loop runs a no-op within a few seconds,
ready while the database answers too."""

from __future__ import annotations

import asyncio
import concurrent.futures

from sqlalchemy import Engine, text

LOOP_PATIENCE = 5.0  # seconds; a loop blocked this long serves nobody


def ping_database(engine: Engine) -> None:
    """Raises when the database does not answer."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


class LoopProbe:
    def __init__(self, patience: float = LOOP_PATIENCE) -> None:
        self._patience = patience
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """The app's loop while it serves (its lifespan binds it, and unbinds it at shutdown)."""
        self._loop = loop

    def __call__(self) -> bool:
        loop = self._loop
        if loop is None or loop.is_closed():
            return False
        turned = asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop)
        try:
            turned.result(timeout=self._patience)
        except concurrent.futures.TimeoutError:
            turned.cancel()
            return False
        return True
