"""Integrations: settings in clear, credentials encrypted and write-only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pulse.errors import ConfigurationError
from storage.crypto import CredentialCipher
from storage.repositories.tenants import bump_config_version
from storage.schema import PROVIDERS, Integration, Job


def create_integration(
    session: Session,
    tenant_id: int,
    *,
    name: str,
    provider: str,
    base_url: str | None,
    credentials: dict[str, Any] | None,
    settings: dict[str, Any] | None,
    cipher: CredentialCipher,
    enabled: bool = True,
) -> Integration:
    if provider not in PROVIDERS:
        raise ConfigurationError(f"provider must be one of {', '.join(PROVIDERS)}")
    name = name.strip()
    if not name:
        raise ConfigurationError("an integration needs a name")
    exists = session.scalar(
        select(Integration.id).where(Integration.tenant_id == tenant_id, Integration.name == name)
    )
    if exists is not None:
        raise ConfigurationError(f"integration {name!r} already exists")
    integration = Integration(
        tenant_id=tenant_id,
        name=name,
        provider=provider,
        base_url=base_url,
        credentials_encrypted=cipher.encrypt(credentials) if credentials else None,
        settings=settings or {},
        enabled=enabled,
        active=True,
    )
    session.add(integration)
    session.flush()
    return integration


def get_integration(session: Session, tenant_id: int, integration_id: int) -> Integration | None:
    return session.scalar(
        select(Integration).where(
            Integration.tenant_id == tenant_id, Integration.id == integration_id
        )
    )


def find_integration(session: Session, tenant_id: int, name_or_id: str) -> Integration | None:
    condition = Integration.name == name_or_id
    if name_or_id.isdigit():
        condition = condition | (Integration.id == int(name_or_id))
    return session.scalar(select(Integration).where(Integration.tenant_id == tenant_id, condition))


def list_integrations(session: Session, tenant_id: int) -> list[Integration]:
    return list(
        session.scalars(
            select(Integration).where(Integration.tenant_id == tenant_id).order_by(Integration.id)
        )
    )


def credentials_of(integration: Integration, cipher: CredentialCipher) -> dict[str, Any]:
    """Decrypt for building a client; never for display."""
    if not integration.credentials_encrypted:
        return {}
    return cipher.decrypt(integration.credentials_encrypted)


def replace_credentials(
    integration: Integration, credentials: dict[str, Any], cipher: CredentialCipher
) -> None:
    """Write-only update: blank values keep the stored secret (forms never echo secrets)."""
    current = credentials_of(integration, cipher)
    current.update({k: v for k, v in credentials.items() if v not in (None, "")})
    integration.credentials_encrypted = cipher.encrypt(current) if current else None


def update_integration(
    session: Session,
    tenant_id: int,
    integration_id: int,
    *,
    name: str,
    base_url: str | None,
    settings: dict[str, Any],
    credentials: dict[str, Any],
    cipher: CredentialCipher,
) -> Integration | None:
    """Edit an integration; blank credential values keep the stored secrets."""
    integration = get_integration(session, tenant_id, integration_id)
    if integration is None:
        return None
    name = name.strip()
    if not name:
        raise ConfigurationError("an integration needs a name")
    clash = session.scalar(
        select(Integration.id).where(
            Integration.tenant_id == tenant_id,
            Integration.name == name,
            Integration.id != integration_id,
        )
    )
    if clash is not None:
        raise ConfigurationError(f"integration {name!r} already exists")
    integration.name, integration.base_url, integration.settings = name, base_url, settings
    replace_credentials(integration, credentials, cipher)
    session.flush()
    bump_config_version(session, tenant_id)
    return integration


def _set_enabled(
    session: Session, tenant_id: int, integration_id: int, enabled: bool
) -> Integration | None:
    integration = get_integration(session, tenant_id, integration_id)
    if integration is None:
        return None
    integration.enabled = enabled
    # The job follows its integration: the scheduler never starts a disabled one.
    session.execute(
        update(Job)
        .where(Job.tenant_id == tenant_id, Job.integration_id == integration_id)
        .values(enabled=enabled)
    )
    session.flush()
    bump_config_version(session, tenant_id)
    return integration


def enable_integration(session: Session, tenant_id: int, integration_id: int) -> Integration | None:
    return _set_enabled(session, tenant_id, integration_id, True)


def disable_integration(
    session: Session, tenant_id: int, integration_id: int
) -> Integration | None:
    return _set_enabled(session, tenant_id, integration_id, False)
