"""Settings: a wrong variable stops the process with one line naming it (never showing a secret),
and an empty environment gives the embedded defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from pulse.errors import ConfigurationError
from pulse.settings import Settings, load_settings

VARIABLES = [name.upper() for name in Settings.model_fields]
PULSE = Path(sys.executable).with_name("pulse")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No settings variable set and an empty working directory (the settings read `.env`)."""
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _error_for(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> str:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    return str(caught.value)


@pytest.mark.parametrize(
    ("variable", "value", "explains"),
    [
        ("DATABASE_URL", "mysql://pulse@db/pulse", "postgresql:// or sqlite:///"),
        ("DATABASE_URL", "pulse.db", "postgresql:// or sqlite:///"),
        ("RABBITMQ_URL", "http://guest@localhost:5672/", "amqp://"),
        ("QDRANT_URL", "localhost:6333", "http://"),
        ("ETL_BATCH_SIZE", "0", "greater than or equal to 1"),
        ("ETL_BATCH_SIZE", "a hundred", "valid integer"),
        ("ETL_MAX_RETRIES", "-1", "greater than or equal to 0"),
        ("ETL_QUEUE_ENABLED", "maybe", "valid boolean"),
        ("ETL_PARTITIONS", "0", "greater than or equal to 1"),
        ("LOG_LEVEL", "bogus", "'DEBUG'"),
    ],
)
def test_an_invalid_variable_gives_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, explains: str
) -> None:
    message = _error_for(monkeypatch, variable, value)
    assert "\n" not in message
    assert message.startswith(f"invalid {variable}: ")
    assert explains in message
    assert repr(value).casefold() in message.casefold()  # the value helps, when no secret


@pytest.mark.parametrize(
    ("variable", "value", "explains"),
    [
        ("ENCRYPTION_KEY", "my-very-secret-passphrase", "Fernet key"),
        ("JWT_SECRET", "short-but-secret", "at least 32 characters"),
    ],
)
def test_an_invalid_secret_is_named_but_never_shown(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, explains: str
) -> None:
    message = _error_for(monkeypatch, variable, value)
    assert "\n" not in message
    assert message.startswith(f"invalid {variable}: ")
    assert explains in message
    assert value not in message


def test_a_url_password_is_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _error_for(monkeypatch, "DATABASE_URL", "mysql://pulse:hunter2@db/pulse")
    assert message.startswith("invalid DATABASE_URL: ")
    assert "hunter2" not in message
    assert "mysql://pulse:***@db/pulse" in message


def test_defaults_are_embedded_sqlite_under_dot_pulse() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///.pulse/pulse.db"
    assert settings.is_sqlite
    assert settings.embedded
    assert settings.state_dir == Path(".pulse")
    assert settings.qdrant_path == Path(".pulse/qdrant")
    assert (settings.etl_batch_size, settings.etl_max_retries, settings.etl_partitions) == (
        100,
        3,
        16,
    )
    assert settings.etl_queue_enabled is True
    assert settings.log_level == "INFO"
    assert (settings.encryption_key, settings.jwt_secret, settings.qdrant_url) == (None, None, None)


@pytest.mark.parametrize(("url", "embedded"), [("", True), ("amqp://guest@rabbit:5672/", False)])
def test_a_broker_url_turns_embedded_mode_off(
    monkeypatch: pytest.MonkeyPatch, url: str, embedded: bool
) -> None:
    monkeypatch.setenv("RABBITMQ_URL", url)
    assert load_settings().embedded is embedded


def test_values_are_read_from_dot_env_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    (clean_environment / ".env").write_text("ETL_BATCH_SIZE=250\nLOG_LEVEL=debug\n")
    settings = load_settings()
    assert (settings.etl_batch_size, settings.log_level) == (250, "DEBUG")
    monkeypatch.setenv("ETL_BATCH_SIZE", "50")
    assert load_settings().etl_batch_size == 50


def test_secrets_are_masked_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    key, jwt = Fernet.generate_key().decode(), "j" * 40
    monkeypatch.setenv("ENCRYPTION_KEY", key)
    monkeypatch.setenv("JWT_SECRET", jwt)
    settings = load_settings()
    assert settings.encryption_key is not None
    assert settings.encryption_key.get_secret_value() == key
    assert key not in repr(settings)
    assert jwt not in repr(settings)


def test_the_cli_stops_on_a_bad_variable_with_one_line(clean_environment: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env["DATABASE_URL"] = f"sqlite:///{clean_environment / 'pulse.db'}"
    env["ETL_PARTITIONS"] = "0"
    result = subprocess.run(
        [str(PULSE), "db", "upgrade"],
        cwd=clean_environment,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "ETL_PARTITIONS" in lines[0]
    assert not (clean_environment / "pulse.db").exists(), "nothing was migrated"
