"""Which embedder embeds a tenant's facts.

A tenant may configure an integration with provider `embedding` (an OpenAI-compatible
endpoint: base URL, write-only API key, settings `model` and `dimension`). The process-wide
choice `EMBEDDING_PROVIDER` decides how that is used:

* `auto` (default): the tenant's embedding integration when it has an enabled one, else the
  local model — a tenant gets real embeddings with zero configuration;
* `local`: the local model for everyone (an air-gapped deployment);
* `openai`: the tenant's integration, and a tenant without one is a configuration error (its
  requests are dead-lettered with a message naming the missing integration).

The integration row is read once per tenant per batch (one indexed query), and the client is
rebuilt only when the row changed (`updated_at`), so an admin's edit applies within a batch.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dataflows.vectorize.providers import Embedder, LocalEmbedder, OpenAICompatibleEmbedder
from pulse.errors import ConfigurationError
from storage.crypto import CredentialCipher
from storage.repositories.integrations import credentials_of
from storage.schema import Integration

__all__ = ["EmbeddingSettings", "ProviderChoice", "TenantEmbedders", "embedder_for_integration"]

log = logging.getLogger(__name__)

ProviderChoice = Literal["auto", "local", "openai"]
EMBEDDING_PROVIDER = "embedding"


class EmbeddingSettings(BaseModel):
    """`integrations.settings` of an embedding integration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1, description="Model name the endpoint knows.")
    dimension: int = Field(ge=1, le=65_536, description="Length of the vectors it returns.")
    batch_size: int = Field(default=64, ge=1, le=2048, description="Texts per request.")
    timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    send_dimensions: bool = Field(
        default=False, description="Send `dimensions` (OpenAI text-embedding-3 can shorten)."
    )


def embedder_for_integration(
    integration: Integration, cipher: CredentialCipher
) -> OpenAICompatibleEmbedder:
    """The client of one embedding integration; a bad setting names itself, never a secret."""
    where = f"integration {integration.name!r}"
    if not integration.base_url:
        raise ConfigurationError(f"{where} needs a base URL", integration_id=integration.id)
    try:
        settings = EmbeddingSettings(**integration.settings)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigurationError(
            f"{where}: setting {name!r}: {first['msg']}", integration_id=integration.id
        ) from None
    key = credentials_of(integration, cipher).get("api_key")
    return OpenAICompatibleEmbedder(
        base_url=integration.base_url,
        api_key=SecretStr(str(key)) if key else None,
        model=settings.model,
        dimension=settings.dimension,
        batch_size=settings.batch_size,
        timeout=settings.timeout_seconds,
        send_dimensions=settings.send_dimensions,
        integration=where,
    )


class TenantEmbedders:
    """tenant id → its embedder, per `provider`. Not thread-safe (one per worker)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        cipher: CredentialCipher | None,
        *,
        provider: ProviderChoice = "auto",
        local: Embedder | None = None,
    ) -> None:
        if provider != "local" and cipher is None:
            raise ConfigurationError(f"EMBEDDING_PROVIDER={provider} needs the credential key")
        self._factory = factory
        self._cipher = cipher
        self._provider = provider
        self._local = local
        self._remote: dict[int, tuple[datetime | None, OpenAICompatibleEmbedder]] = {}

    @property
    def local(self) -> Embedder:
        if self._local is None:
            self._local = LocalEmbedder()
        return self._local

    def for_tenant(self, tenant_id: int) -> Embedder:
        if self._provider == "local":
            return self.local
        with self._factory() as session:
            integration = session.scalar(
                select(Integration)
                .where(
                    Integration.tenant_id == tenant_id,
                    Integration.provider == EMBEDDING_PROVIDER,
                    Integration.enabled.is_(True),
                    Integration.active.is_(True),
                )
                .order_by(Integration.id)
                .limit(1)
            )
        if integration is None:
            if self._provider == "openai":
                raise ConfigurationError(
                    "EMBEDDING_PROVIDER=openai but the tenant has no enabled embedding integration",
                    tenant=tenant_id,
                )
            return self.local
        return self._remote_for(integration)

    def _remote_for(self, integration: Integration) -> OpenAICompatibleEmbedder:
        held = self._remote.get(integration.id)
        if held is not None and held[0] == integration.updated_at:
            return held[1]
        if held is not None:
            held[1].close()
        assert self._cipher is not None  # checked in __init__ for every provider but local
        embedder = embedder_for_integration(integration, self._cipher)
        self._remote[integration.id] = (integration.updated_at, embedder)
        log.info(
            "embedding integration ready",
            extra={"integration_id": integration.id, "model": embedder.model},
        )
        return embedder

    def close(self) -> None:
        for _, embedder in self._remote.values():
            embedder.close()
        self._remote.clear()
