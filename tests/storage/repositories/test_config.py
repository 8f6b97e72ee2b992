"""A new tenant's configuration, as the transform reads it: types and statuses resolve whatever
their case and spacing, the commitment point is To Do, and edits bump the version."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from storage.repositories import config, tenants


@pytest.fixture
def session(shared_engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back at the end of the test."""
    with Session(shared_engine) as session:
        yield session


@pytest.fixture
def tenant_id(session: Session) -> int:
    return tenants.create_tenant(session, "Acme").id


def test_statuses_resolve_whatever_their_case_and_spacing(session: Session, tenant_id: int) -> None:
    snapshot = config.load_tenant_config(session, tenant_id)
    for spelling in ["In Progress", "in progress", "IN PROGRESS", " in   Progress "]:
        step = snapshot.resolve_status(None, spelling)
        assert step is not None, spelling
        assert (step.name, step.category, step.order) == ("In Progress", "in_progress", 5)
    done = snapshot.resolve_status(None, "closed")
    assert done is not None
    assert (done.name, done.category) == ("Done", "done")


def test_types_resolve_whatever_their_case_with_their_level(
    session: Session, tenant_id: int
) -> None:
    snapshot = config.load_tenant_config(session, tenant_id)
    resolved = {
        source: snapshot.resolve_type(None, source)
        for source in ["story", "EPIC", "Sub-Task", "theme", "Tech debt"]
    }
    assert {
        source: (target.canonical_type, target.hierarchy_level) if target else None
        for source, target in resolved.items()
    } == {
        "story": ("Story", 0),
        "EPIC": ("Epic", 1),
        "Sub-Task": ("Sub-task", -1),
        "theme": ("Initiative", 3),
        "Tech debt": ("Tech Enhancement", 0),
    }


def test_unknown_names_resolve_to_nothing(session: Session, tenant_id: int) -> None:
    snapshot = config.load_tenant_config(session, tenant_id)
    assert snapshot.resolve_status(None, "Parked on the moon") is None
    assert snapshot.resolve_type(None, "Gizmo") is None
    assert snapshot.resolve_status(None, None) is None


def test_the_commitment_step_is_to_do(session: Session, tenant_id: int) -> None:
    snapshot = config.load_tenant_config(session, tenant_id)
    commitment = snapshot.commitment_step(None)
    assert commitment is not None
    assert (commitment.name, commitment.category, commitment.order) == ("To Do", "to_do", 4)
    # An integration without a workflow of its own follows the tenant's.
    assert snapshot.commitment_step(12345) == commitment
    assert snapshot.resolve_status(12345, "done") == snapshot.resolve_status(None, "Done")


def test_bumping_the_config_version_changes_the_snapshot(session: Session, tenant_id: int) -> None:
    before = config.load_tenant_config(session, tenant_id).config_version
    assert tenants.bump_config_version(session, tenant_id) == before + 1
    assert config.load_tenant_config(session, tenant_id).config_version == before + 1


def test_an_unknown_tenant_is_refused(session: Session) -> None:
    with pytest.raises(LookupError, match="tenant 999999"):
        config.load_tenant_config(session, 999999)
