"""The transform's per-tenant configuration cache.

Every configuration edit bumps `tenants.config_version`. The cache asks for that one number at
most once per `refresh_seconds` per tenant and reloads the whole snapshot only when it moved,
so a mapping change reaches the dataflow within about a second without a query per record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic

from sqlalchemy.orm import Session, sessionmaker

from pulse.tenant_config import TenantConfig
from storage.repositories.config import load_tenant_config
from storage.repositories.tenants import get_tenant


class UnknownTenantError(LookupError):
    """Records arrived for a tenant that does not exist (deleted, or a forged message)."""


@dataclass(slots=True)
class _Cached:
    config: TenantConfig
    checked_at: float


class TenantConfigs:
    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        refresh_seconds: float = 1.0,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self._factory = factory
        self._refresh = refresh_seconds
        self._clock = clock
        self._cache: dict[int, _Cached] = {}
        self.loads = 0  # full reloads, for tests and metrics

    def get(self, tenant_id: int) -> TenantConfig:
        now = self._clock()
        cached = self._cache.get(tenant_id)
        if cached is not None and now - cached.checked_at < self._refresh:
            return cached.config
        with self._factory() as session:
            tenant = get_tenant(session, tenant_id)
            if tenant is None:
                self._cache.pop(tenant_id, None)
                raise UnknownTenantError(f"tenant {tenant_id} does not exist")
            if cached is not None and cached.config.config_version == tenant.config_version:
                cached.checked_at = now
                return cached.config
            config = load_tenant_config(session, tenant_id)
        self.loads += 1
        self._cache[tenant_id] = _Cached(config, now)
        return config
