"""Encryption of integration credentials at rest (Fernet) and local key material.

Keys come from the settings. In embedded mode, when none is configured, a key is generated once
into the state directory (mode 0600) so the demo works on a fresh clone; production sets
ENCRYPTION_KEY and JWT_SECRET explicitly.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from pulse.errors import ConfigurationError
from pulse.settings import Settings

log = logging.getLogger(__name__)


class CredentialCipher:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    def encrypt(self, credentials: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(credentials).encode()).decode()

    def decrypt(self, token: str) -> dict[str, Any]:
        try:
            return dict(json.loads(self._fernet.decrypt(token.encode())))
        except InvalidToken:
            raise ConfigurationError(
                "stored credentials cannot be decrypted: ENCRYPTION_KEY differs from the key "
                "they were written with"
            ) from None

    def __repr__(self) -> str:
        return "CredentialCipher(<key hidden>)"


def _local_secret(settings: Settings, filename: str, make: Any) -> str:
    path = Path(settings.state_dir) / filename
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value: str = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    log.warning("generated %s for local use; set it explicitly in production", path)
    return value


def encryption_key(settings: Settings) -> str:
    if settings.encryption_key is not None:
        return settings.encryption_key.get_secret_value()
    return _local_secret(settings, "encryption.key", lambda: Fernet.generate_key().decode())


def jwt_secret(settings: Settings) -> str:
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    return _local_secret(settings, "jwt.secret", lambda: secrets.token_urlsafe(48))


def cipher_for(settings: Settings) -> CredentialCipher:
    return CredentialCipher(encryption_key(settings))
