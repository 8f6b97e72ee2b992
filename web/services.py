"""Everything a request handler may use, built once per app by `create_app`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from anyio import CapacityLimiter, to_thread
from sqlalchemy.orm import Session, sessionmaker

from pulse.settings import Settings
from storage.crypto import CredentialCipher
from web.auth import SessionCodec
from web.config import WebConfig
from web.jobs_actions import JobActions
from web.operations import QueueAccess, VectorAccess
from web.progress import ProgressHub
from web.replays import ReplayRunner
from web.templating import Templates

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WebServices:
    settings: Settings
    config: WebConfig
    factory: sessionmaker[Session]
    codec: SessionCodec
    templates: Templates
    cipher: CredentialCipher
    hub: ProgressHub
    jobs: JobActions
    replays: ReplayRunner
    queues: QueueAccess
    vectors: VectorAccess
    # At most `config.db_concurrency` of a process's requests hold a database connection.
    db_slots: CapacityLimiter
    # At most `config.password_concurrency` password checks (argon2) at once.
    password_slots: CapacityLimiter

    async def in_thread(self, func: Callable[..., T], *args: object) -> T:
        """Run blocking (database) work in a worker thread, waiting for a free slot first."""
        return await to_thread.run_sync(func, *args, limiter=self.db_slots)

    async def check_password(self, func: Callable[..., T], *args: object) -> T:
        """Run a password check in a worker thread, without a database slot (argon2-cffi
        releases the GIL, so other requests go on), waiting for a password slot first."""
        return await to_thread.run_sync(func, *args, limiter=self.password_slots)
