"""Facts for the vectorize tests: work items and pull requests inserted as the loader leaves
them (content_hash = sha256 of the rules' text template), on a tenant made by the loader
tests' `World` (tenant, Jira and GitHub integrations, a running job run)."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import insert, select, update

from dataflows.rules.github_pr import pull_request_text
from dataflows.rules.jira_issue import work_item_text
from pulse.messages import VectorizeRequest
from storage.db import transaction
from storage.schema import JobRun, PullRequest, VectorPoint, WorkItem
from tests.storage.loader.world import World

_VERSION = 1_714_521_600_000_000


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def add_work_item(
    world: World,
    external_id: str,
    summary: str,
    *,
    description: str | None = None,
    labels: tuple[str, ...] = (),
    status: str = "In Progress",
    run_id: int | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "tenant_id": world.tenant_id,
        "integration_id": world.jira_id,
        "external_id": external_id,
        "key": f"PUL-{external_id}",
        "summary": summary,
        "description": description,
        "type_name": "Story",
        "source_type": "Story",
        "source_status": status,
        "labels": list(labels),
        "version": _VERSION,
        "raw_id": int(external_id) if external_id.isdigit() else None,
        "last_job_run_id": world.run_id if run_id is None else run_id,
    }
    row["content_hash"] = _hash(work_item_text(row))
    with transaction(world.factory) as session:
        session.execute(insert(WorkItem).values(row))
    return row


def change_work_item(world: World, external_id: str, **changes: Any) -> str:
    """Edit a work item as a newer load would (new text, new hash); returns the new hash."""
    with transaction(world.factory) as session:
        item = session.scalars(
            select(WorkItem).where(
                WorkItem.tenant_id == world.tenant_id, WorkItem.external_id == external_id
            )
        ).one()
        for name, value in changes.items():
            setattr(item, name, value)
        row = {c: getattr(item, c) for c in ("key", "type_name", "summary", "labels")}
        row |= {"source_status": item.source_status, "description": item.description}
        item.content_hash = _hash(work_item_text(row))
        item.version += 1
        return item.content_hash


def add_pull_request(
    world: World, external_id: str, title: str, *, body: str = "", number: int = 1
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "tenant_id": world.tenant_id,
        "integration_id": world.github_id,
        "external_id": external_id,
        "repository_full_name": "acme/pulse",
        "number": number,
        "title": title,
        "body": body,
        "state": "open",
        "url": f"https://github.com/acme/pulse/pull/{number}",
        "version": _VERSION,
        "last_job_run_id": world.run_id,
    }
    row["content_hash"] = _hash(pull_request_text(row))
    with transaction(world.factory) as session:
        session.execute(insert(PullRequest).values(row))
    return row


def work_item_request(world: World, *ids: str) -> VectorizeRequest:
    return VectorizeRequest(world.tenant_id, world.jira_id, "work_item", list(ids), world.run_id)


def pull_request_request(world: World, *ids: str) -> VectorizeRequest:
    return VectorizeRequest(
        world.tenant_id, world.github_id, "pull_request", list(ids), world.run_id
    )


def vector_rows(world: World) -> dict[str, VectorPoint]:
    with world.factory() as session:
        rows = session.scalars(
            select(VectorPoint).where(VectorPoint.tenant_id == world.tenant_id)
        ).all()
        return {row.record_external_id: row for row in rows}


def vectorized(world: World) -> int:
    with world.factory() as session:
        return session.scalar(select(JobRun.vectorized).where(JobRun.id == world.run_id)) or 0


def mark_deleted(world: World, external_id: str) -> None:
    from storage.schema import utcnow

    with transaction(world.factory) as session:
        session.execute(
            update(WorkItem)
            .where(WorkItem.tenant_id == world.tenant_id, WorkItem.external_id == external_id)
            .values(deleted_at=utcnow())
        )


def load_real_payloads(world: World) -> tuple[list[str], list[str]]:
    """The recorded real Jira issues (33, with changelogs) and GitHub pull requests (3)
    through the real rules and loader; returns their external ids."""
    import json

    from connectors.records import utc_version
    from storage.raw_store import without_nul
    from tests.conftest import FIXTURES
    from tests.dataflows.rules.helpers import devlake

    issues = [row["data"] for row in devlake("jira/_raw_jira_api_issues.csv")]
    document = json.loads((FIXTURES / "faros" / "github-graphql-pull-requests.json").read_text())
    pulls = document["repository"]["pullRequests"]["nodes"]
    stored = [
        world.store("jira.issue", i["id"], utc_version(i["fields"]["updated"]), without_nul(i))
        for i in issues
    ] + [
        world.store("github.pull_request", p["url"], utc_version(p["updatedAt"]), without_nul(p))
        for p in pulls
    ]
    records = [world.transform(raw_id) for raw_id in stored]
    assert all(r.output is not None for r in records)
    world.load(world.batch(*records))
    with world.factory() as session:
        items = list(session.scalars(select(WorkItem.external_id)))
        prs = list(session.scalars(select(PullRequest.external_id)))
    return items, prs
