"""Two tenants with everything the web shows: users of every role, integrations, jobs and runs,
raw records, work items with transitions, a pull request, a custom-field catalog and API
tokens. Every string of tenant B carries `BRAVO`, so a page of tenant A that shows any of B's
data is caught by a substring check."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from storage.crypto import CredentialCipher
from storage.repositories import config, integrations, jobs, sessions, tenants, users
from storage.schema import (
    CustomField,
    CustomFieldMapping,
    DeadLetter,
    PrCommit,
    PrReview,
    PullRequest,
    RawRecord,
    WorkItem,
    WorkItemPrLink,
    WorkItemTransition,
)

PASSWORD = "correct horse battery staple"
ROLES = ("admin", "user", "viewer")


@dataclass
class TenantWorld:
    id: int
    marker: str  # in every name of this tenant
    users: dict[str, int] = field(default_factory=dict)  # role → user id
    emails: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # role → clear API token
    ids: dict[str, int] = field(default_factory=dict)  # object kind → one id


def populate(session: Session, marker: str, cipher: CredentialCipher) -> TenantWorld:
    slug = marker.lower()
    tenant = tenants.create_tenant(session, f"Tenant {marker}")
    world = TenantWorld(tenant.id, marker)
    for role in ROLES:
        email = f"{role}@{slug}.example"
        user = users.create_user(
            session,
            tenant.id,
            email=email,
            password=PASSWORD,
            role=role,
            display_name=f"{role.title()} {marker}",
        )
        world.users[role], world.emails[role] = user.id, email
    for role in ROLES:
        token, clear = sessions.create_api_token(
            session, tenant.id, world.users["admin"], name=f"{role} token {marker}", role=role
        )
        world.tokens[role] = clear
        world.ids["token_id"] = token.id
    jira = integrations.create_integration(
        session,
        tenant.id,
        name=f"Jira {marker}",
        provider="jira",
        base_url=f"https://{slug}.atlassian.example",
        credentials={"email": f"bot@{slug}.example", "api_token": f"jira-secret-{marker}"},
        settings={"projects": [marker[:4].upper()]},
        cipher=cipher,
    )
    github = integrations.create_integration(
        session,
        tenant.id,
        name=f"GitHub {marker}",
        provider="github",
        base_url="https://api.github.com",
        credentials={"token": f"ghp-secret-{marker}"},
        settings={"organization": f"org-{slug}"},
        cipher=cipher,
    )
    jira_job = jobs.ensure_job(session, tenant.id, jira.id)
    github_job = jobs.ensure_job(session, tenant.id, github.id)
    run = jobs.start_run(session, tenant.id, jira_job.id)
    assert run is not None
    started = datetime(2024, 5, 1, 9, tzinfo=UTC)
    run.state, run.started_at, run.finished_at = (
        "succeeded",
        started,
        started + timedelta(minutes=3),
    )
    run.extracted = run.transformed = run.loaded = 3
    jira_job.state = "ready"
    failed = jobs.start_run(session, tenant.id, github_job.id)
    assert failed is not None
    failed.state, failed.error = "failed", f"GitHub said 401 for {marker}"
    failed.started_at, failed.finished_at = started, started + timedelta(seconds=5)
    github_job.state, github_job.last_error = "failed", failed.error
    session.flush()

    raw = RawRecord(
        tenant_id=tenant.id,
        integration_id=jira.id,
        job_run_id=run.id,
        entity="jira.issue",
        external_id="10001",
        version="1714554000000000",
        content_hash=f"hash-{marker}",
        payload={
            "key": f"{marker[:4].upper()}-1",
            "fields": {"summary": f"<script>alert('{marker}')</script> raw summary {marker}"},
        },
        fetched_at=started,
    )
    session.add(raw)
    session.flush()
    items = []
    for n, (source_type, status, mapped) in enumerate(
        [("Story", "In Progress", True), ("Gizmo", "Limbo", False), ("Bug", "Done", True)],
        start=1,
    ):
        item = WorkItem(
            tenant_id=tenant.id,
            integration_id=jira.id,
            external_id=str(10000 + n),
            key=f"{marker[:4].upper()}-{n}",
            project_key=marker[:4].upper(),
            summary=f"<b>Item {n}</b> of {marker}",
            source_type=source_type,
            type_name=source_type if mapped else None,
            type_mapped=mapped,
            source_status=status,
            workflow_step=status if mapped else None,
            status_mapped=mapped,
            raw_id=raw.id if n == 1 else None,
            content_hash=f"content-{marker}-{n}",  # loaded facts carry one (vectorize needs it)
            version=n,
            last_job_run_id=run.id,
            source_updated_at=started + timedelta(hours=n),
        )
        session.add(item)
        items.append(item)
    session.flush()
    session.add(
        WorkItemTransition(
            tenant_id=tenant.id,
            integration_id=jira.id,
            work_item_id=items[0].id,
            seq=0,
            from_status="To Do",
            to_status="In Progress",
            entered_from_at=started,
            transitioned_at=started + timedelta(hours=1),
            seconds_in_from_status=3600,
            author=f"dev {marker}",
        )
    )
    pr = PullRequest(
        tenant_id=tenant.id,
        integration_id=github.id,
        external_id=f"PR_{marker}",
        repository_full_name=f"org-{slug}/api",
        number=7,
        title=f"{items[0].key} fix for {marker}",
        state="merged",
        version=1,
        content_hash=f"content-{marker}-pr",
        source_updated_at=started,
    )
    session.add(pr)
    session.flush()
    session.add(
        PrCommit(
            tenant_id=tenant.id,
            integration_id=github.id,
            pull_request_id=pr.id,
            sha="a" * 40,
            message=f"commit {marker}",
        )
    )
    session.add(
        PrReview(
            tenant_id=tenant.id,
            integration_id=github.id,
            pull_request_id=pr.id,
            external_id=f"R_{marker}",
            state="APPROVED",
            author=f"reviewer-{slug}",
        )
    )
    session.add(
        WorkItemPrLink(
            tenant_id=tenant.id,
            integration_id=github.id,
            work_item_key=items[0].key,
            repository_full_name=pr.repository_full_name,
            pr_number=pr.number,
            link_source="title",
            version=1,
        )
    )
    field_row = CustomField(
        tenant_id=tenant.id,
        integration_id=jira.id,
        external_id="customfield_10016",
        name=f"Story Points {marker}",
        custom=True,
        field_type="number",
        version=1,
    )
    session.add(field_row)
    session.flush()
    slot = CustomFieldMapping(
        tenant_id=tenant.id,
        integration_id=jira.id,
        slot="story_points",
        field_external_id="customfield_10016",
        label=field_row.name,
    )
    session.add(slot)
    session.flush()
    letter = DeadLetter(
        tenant_id=tenant.id,
        integration_id=jira.id,
        job_run_id=run.id,
        stage="transform",
        source_queue="etl.raw.3",
        entity="jira.issue",
        external_id="10001",
        message=json.dumps({"raw_id": raw.id, "tenant_id": tenant.id}),
        error=f"ValueError: bad field in {marker}",
        status="open",
    )
    session.add(letter)
    session.flush()
    world.ids.update(
        dead_letter_id=letter.id,
        integration_id=jira.id,
        github_integration_id=github.id,
        job_id=jira_job.id,
        github_job_id=github_job.id,
        run_id=run.id,
        work_item_id=items[0].id,
        pull_request_id=pr.id,
        raw_id=raw.id,
        user_id=world.users["viewer"],
        hierarchy_id=config.list_hierarchies(session, tenant.id)[-1].id,
        wit_mapping_id=config.list_wit_mappings(session, tenant.id)[0].id,
        status_mapping_id=config.list_status_mappings(session, tenant.id)[0].id,
        step_id=next(
            s.id
            for s in config.list_workflow_steps(session, tenant.id)
            if s.step_name == "In Progress"
        ),
        field_mapping_id=slot.id,
    )
    return world
