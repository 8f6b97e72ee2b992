"""Integration credentials are encrypted at rest; a wrong key is a clear configuration error
that shows no secret; locally generated keys are readable by their owner only."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from pulse.errors import ConfigurationError
from pulse.settings import Settings
from storage.crypto import CredentialCipher, cipher_for, encryption_key, jwt_secret

CREDENTIALS: dict[str, Any] = {
    "email": "bot@example.com",
    "token": "ATATT-very-secret-token",
    "n": 1,
}


def test_credentials_round_trip_and_are_not_stored_in_clear() -> None:
    cipher = CredentialCipher(Fernet.generate_key().decode())
    token = cipher.encrypt(CREDENTIALS)
    assert "very-secret" not in token
    assert cipher.decrypt(token) == CREDENTIALS


def test_a_wrong_key_is_a_configuration_error_without_secrets() -> None:
    right, wrong = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = CredentialCipher(right).encrypt(CREDENTIALS)
    with pytest.raises(ConfigurationError, match="ENCRYPTION_KEY") as caught:
        CredentialCipher(wrong).decrypt(token)
    shown = f"{caught.value} {caught.value!r} {caught.value.context}"
    for secret in (right, wrong, token, CREDENTIALS["token"]):
        assert secret not in shown


def test_the_cipher_never_shows_its_key() -> None:
    key = Fernet.generate_key().decode()
    assert key not in repr(CredentialCipher(key))


def test_local_keys_are_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path / "state",
        database_url="sqlite:///x.db",
        encryption_key=None,
        jwt_secret=None,
    )
    key = encryption_key(settings)
    secret = jwt_secret(settings)

    for name in ("encryption.key", "jwt.secret"):
        mode = stat.S_IMODE((tmp_path / "state" / name).stat().st_mode)
        assert mode == 0o600, f"{name} has mode {mode:o}"
    Fernet(key.encode())  # a usable Fernet key
    assert len(secret) >= 32
    # The next process reads the same keys, so stored credentials stay readable.
    assert (encryption_key(settings), jwt_secret(settings)) == (key, secret)
    token = cipher_for(settings).encrypt(CREDENTIALS)
    assert CredentialCipher(key).decrypt(token) == CREDENTIALS


def test_configured_keys_are_used_and_nothing_is_written(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    settings = Settings(
        state_dir=tmp_path / "state",
        database_url="sqlite:///x.db",
        encryption_key=SecretStr(key),
        jwt_secret=SecretStr("s" * 40),
    )
    assert (encryption_key(settings), jwt_secret(settings)) == (key, "s" * 40)
    assert not (tmp_path / "state").exists()
