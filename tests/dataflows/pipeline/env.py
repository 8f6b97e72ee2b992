"""Tenants, Jira issue payloads and raw messages for the dataflow tests."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from dataflows.rabbitmq.stream_source import StreamMessage
from pulse.messages import RecordBatch
from storage.db import transaction
from storage.repositories import integrations, tenants
from tests.connectors.extract.env import CIPHER
from tests.dataflows.rules.helpers import at, issue, jira_time, moves


@dataclass(frozen=True, slots=True)
class PlainTenant:
    id: int
    jira_id: int


def plain_tenant(factory: sessionmaker[Session], name: str) -> PlainTenant:
    """A tenant with the default configuration and one Jira integration (never contacted)."""
    with transaction(factory) as session:
        tenant = tenants.create_tenant(session, name)
        jira = integrations.create_integration(
            session,
            tenant.id,
            name="Jira",
            provider="jira",
            base_url="https://jira.invalid",
            credentials={"email": "x@example.com", "api_token": "t"},
            settings={"projects": ["PUL"]},
            cipher=CIPHER,
        )
        return PlainTenant(tenant.id, jira.id)


def jira_issue(number: int, *, updated_hours: float = 10, done: bool = True) -> dict[str, Any]:
    """Issue PUL-<number> that went To Do → In Progress → Done; `updated_hours` moves its
    version (the last history) so tests can make newer and older versions of one issue."""
    path = [(1.0, "In Progress"), (updated_hours, "Done")] if done else [(1.0, "In Progress")]
    payload = copy.deepcopy(
        issue(
            histories=moves(*path),
            status="Done" if done else "In Progress",
            category="done" if done else "indeterminate",
            resolved=updated_hours if done else None,
        )
    )
    payload["id"] = str(10_000 + number)
    payload["key"] = f"PUL-{number}"
    payload["fields"]["updated"] = jira_time(at(updated_hours))
    return payload


def raw_record(raw_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "raw_id": raw_id,
        "external_id": payload["id"],
        "version": payload["fields"]["updated"],
        "payload": payload,
    }


def raw_message(
    tenant: PlainTenant, records: list[dict[str, Any]], *, offset: int, run: int | None = None
) -> StreamMessage:
    batch = RecordBatch(tenant.id, tenant.jira_id, run, "jira.issue", records)
    return StreamMessage(partition=0, offset=offset, body=batch.to_json())
