"""Everything a request handler may use, built once per app by `create_app`."""

from __future__ import annotations

from dataclasses import dataclass

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
