"""Enumerating the app's routes for the sweeps: every method of every route, its guard, and
its path filled with one tenant's object ids."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.routing import Route

from storage.schema import Base
from tests.web.world import TenantWorld
from web.routing import Guard

# Routes that answer without a principal on purpose.
PUBLIC = {"/", "/login", "/logout", "/healthz", "/readyz", "/metrics"}
# Routes that authenticate themselves (the SSE stream cannot go through the thread pool).
SELF_GUARDED = {"/jobs/events"}

# A path parameter → the kind of object it names (per path prefix when the name is shared).
_PARAMETERS = {
    "job_id": "job_id",
    "integration_id": "integration_id",
    "hierarchy_id": "hierarchy_id",
    "step_id": "step_id",
    "work_item_id": "work_item_id",
    "pull_request_id": "pull_request_id",
    "raw_id": "raw_id",
    "user_id": "user_id",
    "token_id": "token_id",
    "run_id": "run_id",
    "dead_letter_id": "dead_letter_id",
}
_MAPPING_KINDS = {
    "/wit-mappings": "wit_mapping_id",
    "/status-mappings": "status_mapping_id",
    "/custom-fields": "field_mapping_id",
}
_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str
    method: str
    guard: Guard | None

    @property
    def has_ids(self) -> bool:
        return "{" in self.path

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")

    def url(self, tenant: TenantWorld) -> str:
        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "mapping_id":
                prefix = next(p for p in _MAPPING_KINDS if self.path.startswith(p))
                return str(tenant.ids[_MAPPING_KINDS[prefix]])
            if name not in _PARAMETERS:
                raise AssertionError(
                    f"{self.path}: the sweep does not know path parameter {name!r}; "
                    "add it to tests/web/routes.py"
                )
            return str(tenant.ids[_PARAMETERS[name]])

        return _PARAM.sub(fill, self.path)


def endpoints(app: Starlette) -> list[Endpoint]:
    found = []
    for route in app.routes:
        if not isinstance(route, Route):
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            found.append(Endpoint(route.path, method, getattr(route.endpoint, "guard", None)))
    return found


def hostile_form(tenant: TenantWorld) -> dict[str, str]:
    """A form naming the other tenant's objects in every id field a handler reads."""
    return {
        "integration_id": str(tenant.ids["integration_id"]),
        "hierarchy_id": str(tenant.ids["hierarchy_id"]),
        "workflow_id": str(tenant.ids["step_id"]),
        "move_to": str(tenant.ids["hierarchy_id"]),
        "source_name": "Hostile",
        "canonical_type": "Hostile",
        "step_name": "Hostile",
        "category": "in_progress",
        "slot": "custom_01",
        "field_external_id": "customfield_10016",
        "direction": "up",
        "role": "admin",
        "level_number": "42",
        "name": "Hostile",
        "schedule_interval_seconds": "600",
        "retry_interval_seconds": "600",
    }


def snapshot(engine: Engine, tenant_id: int) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the tenant in every table (its own tenants row included)."""
    rows = {}
    with Session(engine) as session:
        for table in Base.metadata.sorted_tables:
            column = table.c.id if table.name == "tenants" else table.c.get("tenant_id")
            if column is None:
                continue
            ordered = select(table).where(column == tenant_id).order_by(*table.primary_key)
            found = [tuple(r) for r in session.execute(ordered)]
            if table.name == "api_tokens":  # last_used_at moves when a token is used
                index = list(table.c).index(table.c.last_used_at)
                found = [r[:index] + r[index + 1 :] for r in found]
            rows[table.name] = found
    return rows
