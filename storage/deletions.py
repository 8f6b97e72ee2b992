"""Deletion reconciliation on the loaded facts: items absent from a completed id sweep are
marked deleted at the source (`deleted_at`), never removed — an item that reappears is restored
by its next load, which writes `deleted_at = NULL`."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from storage.schema import PullRequest, WorkItem, utcnow


def _mark_missing(
    session: Session,
    model: type[WorkItem] | type[PullRequest],
    scope: list[ColumnElement[bool]],
    present_ids: Collection[str],
) -> list[str]:
    stored = session.scalars(select(model.external_id).where(*scope, model.deleted_at.is_(None)))
    missing = sorted(set(stored) - set(present_ids))
    if missing:
        session.execute(
            update(model).where(*scope, model.external_id.in_(missing)).values(deleted_at=utcnow())
        )
    return missing


def mark_missing_work_items(
    session: Session, tenant_id: int, integration_id: int, present_ids: Collection[str]
) -> list[str]:
    """Work items of the integration whose id the sweep did not list; returns their ids."""
    scope = [WorkItem.tenant_id == tenant_id, WorkItem.integration_id == integration_id]
    return _mark_missing(session, WorkItem, scope, present_ids)


def mark_missing_pull_requests(
    session: Session,
    tenant_id: int,
    integration_id: int,
    repository_full_name: str,
    present_ids: Collection[str],
) -> list[str]:
    """Pull requests of one repository whose node id the repository's sweep did not list."""
    scope = [
        PullRequest.tenant_id == tenant_id,
        PullRequest.integration_id == integration_id,
        PullRequest.repository_full_name == repository_full_name,
    ]
    return _mark_missing(session, PullRequest, scope, present_ids)
