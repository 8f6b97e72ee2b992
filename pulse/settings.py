"""Process settings: built once at start from the environment (and `.env`), then passed down.

No module reads the environment by itself. A wrong value fails at start with one line that names
the variable (`load_settings`).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pulse.errors import ConfigurationError

_STATE_DIR = Path(".pulse")
_SUPPORTED_DB_SCHEMES = ("postgresql", "postgresql+psycopg", "sqlite")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_URL_PASSWORD = re.compile(r"(?<=://)([^/@:]*):[^/]*@")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    database_url: str = Field(
        default=f"sqlite:///{_STATE_DIR / 'pulse.db'}",
        description="SQLAlchemy URL. PostgreSQL in production; a SQLite file in embedded mode.",
    )
    rabbitmq_url: str | None = Field(
        default=None, description="AMQP URL. Unset: embedded mode, stages hand off in-process."
    )
    rabbitmq_management_url: str | None = Field(
        default=None, description="RabbitMQ management API (queue rates); optional."
    )
    qdrant_url: str | None = Field(default=None, description="Qdrant server URL.")
    qdrant_path: Path = Field(
        default=_STATE_DIR / "qdrant", description="Qdrant local-mode directory (no QDRANT_URL)."
    )
    etl_batch_size: int = Field(default=100, ge=1, le=10_000)
    etl_max_retries: int = Field(default=3, ge=0, le=20)
    etl_queue_enabled: bool = True
    etl_partitions: int = Field(default=16, ge=1, le=1024)
    etl_batch_max_delay_ms: int = Field(default=1000, ge=10, le=60_000)
    etl_stream_prefetch: int = Field(
        default=4,
        ge=1,
        le=10_000,
        description="Messages a shard may hold unread per stream partition (raw ones are ~2 MB).",
    )
    etl_stall_seconds: int = Field(
        default=1800,
        ge=5,
        le=7 * 86_400,
        description="Watchdog: a run with no progress for this long fails, naming its stage.",
    )
    scheduler_tick_ms: int = Field(default=500, ge=50, le=60_000)
    progress_interval_ms: int = Field(
        default=250, ge=50, le=60_000, description="Least time between progress events of a run."
    )
    health_port: int | None = Field(
        default=None, ge=0, le=65_535, description="Port of a worker's /healthz, /readyz, /metrics."
    )
    embedding_provider: Literal["auto", "local", "openai"] = Field(
        default="auto",
        description="auto: a tenant's embedding integration when it has one, else the local model.",
    )
    vectorize_batch_size: int = Field(default=64, ge=1, le=2048)
    vectorize_prefetch: int = Field(default=64, ge=1, le=10_000)
    vectorize_max_delay_ms: int = Field(default=200, ge=0, le=60_000)
    qdrant_api_key: SecretStr | None = Field(default=None, description="Qdrant server API key.")
    encryption_key: SecretStr | None = Field(
        default=None, description="Fernet key for integration credentials (44 url-safe chars)."
    )
    jwt_secret: SecretStr | None = Field(default=None, description="HS256 key for web sessions.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    state_dir: Path = Field(default=_STATE_DIR, description="Local state: recovery dirs, keys.")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = value.split("://", 1)[0]
        if "://" not in value or scheme not in _SUPPORTED_DB_SCHEMES:
            raise ValueError(f"must be a postgresql:// or sqlite:/// URL, got scheme {scheme!r}")
        return value

    @field_validator("rabbitmq_url")
    @classmethod
    def _amqp_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("amqp://", "amqps://")):
            raise ValueError("must start with amqp:// or amqps://")
        return value

    @field_validator("qdrant_url", "rabbitmq_management_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("encryption_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        from cryptography.fernet import Fernet

        try:
            Fernet(value.get_secret_value().encode())
        except ValueError:
            raise ValueError(
                "must be a Fernet key (32 url-safe base64-encoded bytes); "
                "make one with `pulse keys generate`"
            ) from None
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _strong_jwt_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @property
    def embedded(self) -> bool:
        """True when stages run in-process (no broker configured)."""
        return self.rabbitmq_url is None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning a validation failure into one line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        variable = str(first["loc"][0]).upper() if first["loc"] else "settings"
        value = _without_password(first.get("input"))
        shown = "" if "SECRET" in variable or "KEY" in variable else f" (got {value!r})"
        raise ConfigurationError(f"invalid {variable}: {first['msg']}{shown}") from None


def _without_password(value: object) -> object:
    """A URL's password (postgresql://user:secret@host) never reaches a message."""
    return _URL_PASSWORD.sub(r"\1:***@", value) if isinstance(value, str) else value


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
