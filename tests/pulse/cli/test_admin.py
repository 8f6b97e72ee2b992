"""`pulse` as an operator runs it, on a new SQLite file and a new PostgreSQL database: migrate,
create a tenant (which gets the default configuration) and its users, and fail clearly."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pulse.settings import Settings
from storage import defaults
from storage.db import make_engine
from storage.repositories import config, tenants
from storage.schema import User
from tests.storage.fresh_db import fresh_pg_database

PULSE = Path(sys.executable).with_name("pulse")
ADMIN_PASSWORD = "admin password 1"
STDIN_PASSWORD = "piped password 2"


@dataclass
class Installation:
    """A new installation, migrated, with tenant "Acme Corp", an admin (password given as a
    flag) and a viewer (password piped on standard input)."""

    cwd: Path
    env: dict[str, str]
    engine: Engine
    outputs: dict[str, subprocess.CompletedProcess[str]]

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PULSE), *args],
            cwd=self.cwd,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )


def _install(cwd: Path, database_url: str) -> Installation:
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env["DATABASE_URL"] = database_url
    installation = Installation(cwd, env, make_engine(database_url), {})
    steps = {
        "upgrade": ("db", "upgrade"),
        "tenant": ("tenant", "create", "Acme Corp"),
        "admin": (
            *("user", "create", "--tenant", "acme-corp", "--email", "Admin@Acme.example"),
            *("--role", "admin", "--password", ADMIN_PASSWORD),
        ),
        "viewer": (
            *("user", "create", "--tenant", "Acme Corp", "--email", "viewer@acme.example"),
            *("--role", "viewer"),
        ),
    }
    for name, args in steps.items():
        stdin = f"{STDIN_PASSWORD}\n" if name == "viewer" else ""
        result = installation.run(*args, stdin=stdin)
        assert result.returncode == 0, f"pulse {' '.join(args)} failed:\n{result.stderr}"
        installation.outputs[name] = result
    return installation


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
)
def installation(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Installation]:
    cwd = tmp_path_factory.mktemp("cli")
    if request.param == "sqlite":
        installation = _install(cwd, f"sqlite:///{cwd / 'pulse.db'}")
        yield installation
        installation.engine.dispose()
    else:
        with fresh_pg_database() as url:
            installation = _install(cwd, url)
            yield installation
            installation.engine.dispose()


def _user(installation: Installation, email: str) -> User | None:
    with Session(installation.engine) as session:
        return session.scalar(select(User).where(User.email == email))


def test_the_tenant_gets_the_default_workflow(installation: Installation) -> None:
    assert "created tenant 'Acme Corp'" in installation.outputs["tenant"].stdout
    with Session(installation.engine) as session:
        tenant = tenants.find_tenant(session, "acme-corp")
        assert tenant is not None
        steps = config.list_workflow_steps(session, tenant.id)
    assert [(s.step_name, s.step_order, s.category) for s in steps] == [
        ("Backlog", 1, "to_do"),
        ("Refinement", 2, "to_do"),
        ("Ready", 3, "to_do"),
        ("To Do", 4, "to_do"),
        ("In Progress", 5, "in_progress"),
        ("Code Review", 6, "waiting"),
        ("Testing", 7, "in_progress"),
        ("Ready for Release", 8, "waiting"),
        ("Done", 9, "done"),
        ("Discarded", None, "discarded"),
    ]
    assert [s.step_name for s in steps if s.is_commitment_point] == ["To Do"]


def test_the_tenant_gets_the_default_hierarchy_and_mappings(installation: Installation) -> None:
    with Session(installation.engine) as session:
        tenant = tenants.find_tenant(session, "acme-corp")
        assert tenant is not None
        levels = {
            h.id: (h.name, h.level_number) for h in config.list_hierarchies(session, tenant.id)
        }
        steps = {s.id: s.step_name for s in config.list_workflow_steps(session, tenant.id)}
        types = {
            m.source_name: (m.canonical_type, levels[m.hierarchy_id][1])
            for m in config.list_wit_mappings(session, tenant.id)
        }
        statuses = {
            m.source_name: steps.get(m.workflow_id)
            for m in config.list_status_mappings(session, tenant.id)
        }

    assert {"Initiative": 3, "Epic": 1, "Story": 0, "Sub-task": -1}.items() <= {
        name: level for name, level in levels.values()
    }.items()
    assert len(types) == len(defaults.TYPE_MAPPINGS)
    assert (types["Bug"], types["Feature"], types["Subtask"]) == (
        ("Bug", 0),
        ("Epic", 1),
        ("Sub-task", -1),
    )
    assert len(statuses) >= 50
    assert None not in statuses.values(), "every status maps to one of the tenant's steps"
    assert set(statuses.values()) == set(steps.values()), "every step has a status"
    assert (statuses["In Review"], statuses["Won't Do"], statuses["Selected for Development"]) == (
        "Code Review",
        "Discarded",
        "To Do",
    )


def test_the_admin_password_is_stored_as_an_argon2id_hash(installation: Installation) -> None:
    assert "created admin admin@acme.example" in installation.outputs["admin"].stdout
    admin = _user(installation, "admin@acme.example")  # emails are stored casefolded
    assert admin is not None
    assert admin.role == "admin"
    assert admin.password_hash.startswith("$argon2id$")
    assert ADMIN_PASSWORD not in admin.password_hash
    assert PasswordHasher().verify(admin.password_hash, ADMIN_PASSWORD)
    for output in installation.outputs.values():
        assert ADMIN_PASSWORD not in output.stdout + output.stderr


def test_a_password_can_come_from_standard_input(installation: Installation) -> None:
    viewer = _user(installation, "viewer@acme.example")
    assert viewer is not None
    assert viewer.role == "viewer"
    assert viewer.password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(viewer.password_hash, STDIN_PASSWORD)


def test_a_duplicate_tenant_fails_with_exit_code_2(installation: Installation) -> None:
    result = installation.run("tenant", "create", "Acme Corp")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "pulse: error: tenant 'Acme Corp' already exists (slug 'acme-corp')"
    )


def test_a_short_password_fails_with_exit_code_2(installation: Installation) -> None:
    result = installation.run(
        *("user", "create", "--tenant", "acme-corp", "--email", "short@acme.example"),
        *("--role", "user", "--password", "tiny1"),
    )
    assert result.returncode == 2
    assert result.stderr.startswith("pulse: error: password: use at least 10 characters")
    assert "tiny1" not in result.stderr + result.stdout
    assert _user(installation, "short@acme.example") is None
