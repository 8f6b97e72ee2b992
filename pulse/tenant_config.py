"""A snapshot of one tenant's mapping configuration, as the transform rules consume it.

Storage builds it (`storage.repositories.config.load_tenant_config`); the rules only read it.
Mappings may be tenant-wide (integration None) or specific to one integration; the specific one
wins. Names match case-insensitively (casefold, trimmed).
"""

from __future__ import annotations

from dataclasses import dataclass, field


def name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


@dataclass(frozen=True, slots=True)
class WorkflowStep:
    name: str
    order: int | None  # None: outside the ordered flow (e.g. Discarded)
    category: str  # to_do | in_progress | waiting | done | discarded
    is_commitment_point: bool = False


@dataclass(frozen=True, slots=True)
class TypeTarget:
    canonical_type: str
    hierarchy_level: int


@dataclass(frozen=True, slots=True)
class TenantConfig:
    tenant_id: int
    config_version: int
    # Keyed by integration id, None for the tenant-wide configuration.
    workflows: dict[int | None, tuple[WorkflowStep, ...]] = field(default_factory=dict)
    type_mappings: dict[int | None, dict[str, TypeTarget]] = field(default_factory=dict)
    status_mappings: dict[int | None, dict[str, str]] = field(default_factory=dict)  # → step
    field_slots: dict[int, dict[str, str]] = field(default_factory=dict)  # slot → field id
    # resolve_status answers, memoised: an issue's changelog asks ~30 times for a few names.
    _status_memo: dict[tuple[int | None, str], WorkflowStep | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    def steps(self, integration_id: int | None) -> tuple[WorkflowStep, ...]:
        return self.workflows.get(integration_id) or self.workflows.get(None, ())

    def commitment_step(self, integration_id: int | None) -> WorkflowStep | None:
        return next((s for s in self.steps(integration_id) if s.is_commitment_point), None)

    def resolve_type(
        self, integration_id: int | None, source_name: str | None
    ) -> TypeTarget | None:
        if not source_name:
            return None
        key = name_key(source_name)
        for scope in (integration_id, None):
            target = self.type_mappings.get(scope, {}).get(key)
            if target is not None:
                return target
        return None

    def resolve_status(
        self, integration_id: int | None, source_name: str | None
    ) -> WorkflowStep | None:
        if not source_name:
            return None
        memo_key = (integration_id, source_name)
        if memo_key in self._status_memo:
            return self._status_memo[memo_key]
        key = name_key(source_name)
        found = None
        for scope in (integration_id, None):
            step_name = self.status_mappings.get(scope, {}).get(key)
            if step_name is not None:
                found = next((s for s in self.steps(integration_id) if s.name == step_name), None)
                break
        self._status_memo[memo_key] = found
        return found

    def slots(self, integration_id: int) -> dict[str, str]:
        return self.field_slots.get(integration_id, {})
