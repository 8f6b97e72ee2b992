"""Tenant A's repository calls never see or touch tenant B's rows.

Every public function of every module in `storage.repositories` that takes a `tenant_id` is
found by introspection and called (1) for tenant A with A's own objects, and (2) for tenant A
with B's object ids. No returned object may carry B's tenant or point at B's rows, the
cross-tenant call must find nothing, and neither call may change a row of B. Both tenants have
the same integration names and work item keys, so a missing tenant filter shows.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, delete, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

import storage.repositories
from pulse.errors import PulseError
from storage.crypto import CredentialCipher
from storage.db import make_engine
from storage.migrate import upgrade
from storage.repositories import integrations, jobs, tenants, users
from storage.schema import (
    Base,
    CustomFieldMapping,
    PullRequest,
    StatusMapping,
    WitHierarchy,
    WitMapping,
    Workflow,
    WorkItem,
    WorkItemTransition,
)
from tests.conftest import _truncate_all

# Parameters naming one object of the tenant, and the table the object lives in.
OBJECT_PARAMETERS = {
    "integration_id": "integrations",
    "work_item_id": "work_items",
    "pull_request_id": "pull_requests",
    "user_id": "users",
    "job_id": "jobs",
    "run_id": "job_runs",
    "name_or_id": "integrations",  # an integration's name or id (find_integration)
}
# Functions that set a tenant up from nothing: they are called on tenant A with its
# configuration removed first (A already has the default configuration).
INITIALISERS = {"tenants.apply_default_configuration"}
# What a cross-tenant call may do instead of returning nothing: refuse.
REFUSALS = (PulseError, LookupError)
CONFIGURATION = (StatusMapping, WitMapping, Workflow, WitHierarchy)


def _public_tenant_functions() -> list[tuple[str, Callable[..., Any]]]:
    found: list[tuple[str, Callable[..., Any]]] = []
    for module_name in storage.repositories.__all__:
        module: ModuleType = getattr(storage.repositories, module_name)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or function.__module__ != module.__name__:
                continue
            if "tenant_id" in inspect.signature(function).parameters:
                found.append((f"{module_name}.{name}", function))
    return found


FUNCTIONS = _public_tenant_functions()
CROSS_FUNCTIONS = [
    (name, function)
    for name, function in FUNCTIONS
    if set(inspect.signature(function).parameters) & set(OBJECT_PARAMETERS)
]


@dataclass
class Tenant:
    id: int
    objects: dict[str, int]  # parameter name → id of one object of this tenant


@dataclass
class World:
    engine: Engine
    a: Tenant
    b: Tenant
    cipher: CredentialCipher


def _populate(session: Session, name: str, cipher: CredentialCipher) -> Tenant:
    tenant = tenants.create_tenant(session, name)
    jira = integrations.create_integration(
        session,
        tenant.id,
        name="Jira",
        provider="jira",
        base_url="https://example.atlassian.net",
        credentials={"email": "bot@example.com", "token": f"token-of-{name}"},
        settings={"projects": ["PROJ"]},
        cipher=cipher,
    )
    github = integrations.create_integration(
        session,
        tenant.id,
        name="GitHub",
        provider="github",
        base_url=None,
        credentials={"token": f"ghp-{name}"},
        settings={},
        cipher=cipher,
    )
    user = users.create_user(
        session,
        tenant.id,
        email=f"viewer@{tenant.slug}.example",
        password="correct horse battery",
        role="viewer",
    )
    session.add(
        CustomFieldMapping(
            tenant_id=tenant.id,
            integration_id=jira.id,
            slot="story_points",
            field_external_id="customfield_10016",
        )
    )
    updated = datetime(2024, 5, 1, tzinfo=UTC)
    items = []
    for n, (status, mapped) in enumerate([("In Progress", True), ("Limbo", False)], start=1):
        item = WorkItem(
            tenant_id=tenant.id,
            integration_id=jira.id,
            external_id=str(10000 + n),
            key=f"PROJ-{n}",
            summary=f"Shared summary {n}",
            source_type="Story" if mapped else "Gizmo",
            type_name="Story" if mapped else None,
            type_mapped=mapped,
            source_status=status,
            workflow_step="In Progress" if mapped else None,
            status_mapped=mapped,
            version=n,
            source_updated_at=updated + timedelta(hours=n),
        )
        session.add(item)
        items.append(item)
    session.flush()
    for seq, item in enumerate(items):
        session.add(
            WorkItemTransition(
                tenant_id=tenant.id,
                integration_id=jira.id,
                work_item_id=item.id,
                seq=seq,
                from_status="To Do",
                to_status="In Progress",
                entered_from_at=updated,
                transitioned_at=updated + timedelta(hours=1),
                seconds_in_from_status=3600,
            )
        )
    pull_request = PullRequest(
        tenant_id=tenant.id,
        integration_id=github.id,
        external_id="PR_node_1",
        repository_full_name="acme/api",
        number=7,
        title="PROJ-1 shared title",
        state="open",
        version=1,
        source_updated_at=updated,
    )
    session.add(pull_request)
    job = jobs.ensure_job(session, tenant.id, jira.id)
    run = jobs.start_run(session, tenant.id, job.id)
    assert run is not None
    # The run has finished: the job may be started again (by its own tenant only).
    run.state, job.state = "succeeded", "ready"
    session.flush()
    return Tenant(
        tenant.id,
        {
            "integration_id": jira.id,
            "work_item_id": items[0].id,
            "pull_request_id": pull_request.id,
            "user_id": user.id,
            "job_id": job.id,
            "run_id": run.id,
            "name_or_id": jira.id,
        },
    )


def _world(engine: Engine) -> World:
    cipher = CredentialCipher(Fernet.generate_key().decode())
    with Session(engine) as session, session.begin():
        a = _populate(session, "Tenant A", cipher)
        b = _populate(session, "Tenant B", cipher)
    return World(engine, a, b, cipher)


@pytest.fixture(
    scope="module", params=[pytest.param("postgresql", marks=pytest.mark.integration), "sqlite"]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """Both tenants, populated once per dialect; each test works in a transaction that is
    rolled back, so the population stays as it is."""
    if request.param == "postgresql":
        engine: Engine = request.getfixturevalue("migrated_pg")
        _truncate_all(engine)
        yield _world(engine)
        _truncate_all(engine)
    else:
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('isolation') / 'pulse.db'}")
        upgrade(engine)
        yield _world(engine)
        engine.dispose()


def _arguments(
    function: Callable[..., Any], session: Session, world: World, objects: dict[str, int]
) -> dict[str, Any]:
    """Fill every parameter: object ids from `objects`, the rest from a fixed table. Optional
    object parameters are filled only when `objects` is B's (to aim the call at B's rows)."""
    fixed: dict[str, Any] = {
        "session": session,
        "tenant_id": world.a.id,
        "name": "Another integration",
        "provider": "jira",
        "base_url": "https://another.atlassian.net",
        "credentials": {"token": "t"},
        "settings": {},
        "cipher": world.cipher,
        "email": "new.user@a.example",
        "password": "a long enough password",
        "role": "admin",
        "active": False,
        "kind": "full",
    }
    aimed_at_b = objects is world.b.objects
    arguments = {}
    for name, parameter in inspect.signature(function).parameters.items():
        if name in OBJECT_PARAMETERS and (aimed_at_b or parameter.default is parameter.empty):
            value = objects[name]
            arguments[name] = str(value) if name == "name_or_id" else value
        elif name in fixed:
            arguments[name] = fixed[name]
        elif parameter.default is parameter.empty:
            pytest.fail(
                f"{function.__module__}.{function.__name__}: no value for parameter {name!r}; "
                "add it to the argument factory in this test",
                pytrace=False,
            )
    return arguments


def _snapshot_of(session: Session, tenant_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tenant, in every table."""
    snapshot = {}
    for table in Base.metadata.sorted_tables:
        column = table.c.get("tenant_id") if table.name != "tenants" else table.c.id
        if column is not None:
            rows = session.execute(
                select(table).where(column == tenant_id).order_by(*table.primary_key)
            )
            snapshot[table.name] = [tuple(r) for r in rows]
    return snapshot


def _ids_of(snapshot: dict[str, list[tuple[Any, ...]]]) -> dict[str, set[Any]]:
    tables = Base.metadata.tables
    return {
        name: {r[list(tables[name].c).index(tables[name].c.id)] for r in rows}
        for name, rows in snapshot.items()
        if "id" in tables[name].c
    }


def _references_to(value: Any, b_ids: dict[str, set[Any]], path: str) -> list[str]:
    """Where in a returned value tenant B shows up: one of its rows, or a reference to one of
    its rows (its tenant id included: `b_ids["tenants"]` is {B})."""
    found = []
    if hasattr(value, "__table__"):
        for attribute in sa_inspect(value).mapper.column_attrs:
            column = attribute.columns[0]
            targets = [fk.column.table.name for fk in column.foreign_keys]
            if column.primary_key:
                targets.append(column.table.name)
            held = getattr(value, attribute.key)
            if any(held in b_ids.get(t, ()) for t in targets):
                found.append(f"{path}.{attribute.key}")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            held = getattr(value, item.name)
            table = "tenants" if item.name == "tenant_id" else OBJECT_PARAMETERS.get(item.name)
            if table is not None and held in b_ids.get(table, ()):
                found.append(f"{path}.{item.name}")
            found += _references_to(held, b_ids, f"{path}.{item.name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            found += _references_to(item, b_ids, f"{path}[{key!r}]")
    elif isinstance(value, list | tuple | set | frozenset):
        for n, item in enumerate(value):
            found += _references_to(item, b_ids, f"{path}[{n}]")
    return found


def _call(world: World, name: str, function: Callable[..., Any], objects: dict[str, int]) -> Any:
    """Call the function as tenant A in a transaction that is rolled back (the session closes
    without a commit); return its result after checking that no row of B changed."""
    with Session(world.engine) as session:
        if name in INITIALISERS:
            for model in CONFIGURATION:
                session.execute(delete(model).where(model.tenant_id == world.a.id))
        b_before = _snapshot_of(session, world.b.id)
        try:
            result = function(**_arguments(function, session, world, objects))
            session.flush()
        except REFUSALS as refusal:
            if objects is world.a.objects:
                raise
            result = refusal
        else:
            leaks = _references_to(result, _ids_of(b_before), "result")
            assert not leaks, f"{name} for tenant A returned tenant B's data at {leaks}"
        assert _snapshot_of(session, world.b.id) == b_before, f"{name} changed tenant B's rows"
    return result


def test_introspection_finds_the_repository_functions() -> None:
    names = {name for name, _ in FUNCTIONS}
    assert {
        "facts.list_work_items",
        "facts.get_work_item",
        "integrations.find_integration",
        "users.set_role",
        "config.load_tenant_config",
        "jobs.start_run",
    } <= names
    assert "tenants.create_tenant" not in names  # takes no tenant id
    assert names >= INITIALISERS, "an initialiser was renamed: update INITIALISERS"


@pytest.mark.parametrize(("name", "function"), FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_a_call_for_tenant_a_returns_nothing_of_tenant_b(
    world: World, name: str, function: Callable[..., Any]
) -> None:
    result = _call(world, name, function, world.a.objects)
    if name.split(".")[1].startswith(("get_", "list_", "find_")):
        assert result, f"{name} found nothing for tenant A: the population does not exercise it"


@pytest.mark.parametrize(("name", "function"), CROSS_FUNCTIONS, ids=[n for n, _ in CROSS_FUNCTIONS])
def test_tenant_a_cannot_reach_tenant_b_objects_by_id(
    world: World, name: str, function: Callable[..., Any]
) -> None:
    result = _call(world, name, function, world.b.objects)
    assert isinstance(result, REFUSALS) or not result, (
        f"{name} for tenant A with tenant B's ids returned {result!r}"
    )


def test_a_parameter_the_factory_cannot_fill_fails_with_its_name() -> None:
    def archive(session: Session, tenant_id: int, retention_policy: str) -> None: ...

    world = World(
        make_engine("sqlite://"),
        Tenant(1, {}),
        Tenant(2, {}),
        CredentialCipher(Fernet.generate_key().decode()),
    )
    with pytest.raises(pytest.fail.Exception, match="archive: no value for parameter 'retention"):
        _arguments(archive, Session(), world, world.a.objects)
