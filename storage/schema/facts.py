"""Facts: work items with workflow metrics, their transitions and sprints, pull requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.schema.base import (
    Base,
    BigId,
    ChildOfFactMixin,
    IdMixin,
    IntegrationMixin,
    JsonDoc,
    TimestampMixin,
    UTCDateTime,
    VersionedMixin,
    trigram_indexes,
)


class LoadedFactMixin(VersionedMixin):
    """Facts also record the run that last loaded them (progress counts come from rows) and
    the hash of their embedded text (vectorize only what changed)."""

    last_job_run_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    # Digest of the child rows last written (transitions and sprints, or PR commits, reviews
    # and comments): a rewrite with equal children, as most of a replay is, leaves them alone.
    children_hash: Mapped[str | None] = mapped_column(String(32))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # gone at the source


class WorkItem(IdMixin, IntegrationMixin, LoadedFactMixin, TimestampMixin, Base):
    __tablename__ = "work_items"
    __table_args__ = (
        UniqueConstraint("tenant_id", "integration_id", "external_id", name="uq_work_items_key"),
        Index("ix_work_items_tenant_key", "tenant_id", "key"),
        Index("ix_work_items_tenant_step", "tenant_id", "workflow_step"),
        Index("ix_work_items_tenant_updated", "tenant_id", "source_updated_at"),
        Index("ix_work_items_tenant_run", "tenant_id", "last_job_run_id"),
        *trigram_indexes("work_items", "key", "summary"),
        Index(
            "ix_work_items_unmapped",
            "tenant_id",
            "integration_id",
            postgresql_where=text("NOT (type_mapped AND status_mapped)"),
            sqlite_where=text("NOT (type_mapped AND status_mapped)"),
        ),
    )

    external_id: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(100))
    project_key: Mapped[str | None] = mapped_column(String(100))
    summary: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)  # plain text rendered from ADF
    # Type: the source's name always; the canonical one when a wit_mapping matched.
    source_type: Mapped[str | None] = mapped_column(String(200))
    type_name: Mapped[str | None] = mapped_column(String(100))
    hierarchy_level: Mapped[int | None] = mapped_column(Integer)
    type_mapped: Mapped[bool] = mapped_column(Boolean, default=False)
    # Status: the source's name and category always; the workflow step when mapped.
    source_status: Mapped[str | None] = mapped_column(String(200))
    source_status_category: Mapped[str | None] = mapped_column(String(32))
    workflow_step: Mapped[str | None] = mapped_column(String(100))
    step_category: Mapped[str | None] = mapped_column(String(16))
    status_mapped: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_key: Mapped[str | None] = mapped_column(String(100), index=True)
    epic_key: Mapped[str | None] = mapped_column(String(100))
    priority: Mapped[str | None] = mapped_column(String(100))
    resolution: Mapped[str | None] = mapped_column(String(200))
    assignee: Mapped[str | None] = mapped_column(String(300))
    assignee_account_id: Mapped[str | None] = mapped_column(String(200))
    reporter: Mapped[str | None] = mapped_column(String(300))
    labels: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    team: Mapped[str | None] = mapped_column(String(300))
    story_points: Mapped[float | None] = mapped_column(Float)
    development: Mapped[bool | None] = mapped_column(Boolean)
    source_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Workflow metrics from the full status history (ARCHITECTURE §5).
    committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    start_count: Mapped[int] = mapped_column(Integer, default=0)
    completion_count: Mapped[int] = mapped_column(Integer, default=0)
    backlog_return_count: Mapped[int] = mapped_column(Integer, default=0)
    work_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    waiting_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    cycle_seconds: Mapped[int | None] = mapped_column(BigInteger)
    lead_seconds: Mapped[int | None] = mapped_column(BigInteger)
    rework: Mapped[bool] = mapped_column(Boolean, default=False)
    direct_completion: Mapped[bool] = mapped_column(Boolean, default=False)
    unmapped_status_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    step_seconds: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    # Custom slots: display values of the source fields chosen in custom_field_mappings.
    custom_01: Mapped[str | None] = mapped_column(String(1000))
    custom_02: Mapped[str | None] = mapped_column(String(1000))
    custom_03: Mapped[str | None] = mapped_column(String(1000))
    custom_04: Mapped[str | None] = mapped_column(String(1000))
    custom_05: Mapped[str | None] = mapped_column(String(1000))
    custom_06: Mapped[str | None] = mapped_column(String(1000))
    custom_07: Mapped[str | None] = mapped_column(String(1000))
    custom_08: Mapped[str | None] = mapped_column(String(1000))
    custom_09: Mapped[str | None] = mapped_column(String(1000))
    custom_10: Mapped[str | None] = mapped_column(String(1000))
    custom_11: Mapped[str | None] = mapped_column(String(1000))
    custom_12: Mapped[str | None] = mapped_column(String(1000))
    custom_13: Mapped[str | None] = mapped_column(String(1000))
    custom_14: Mapped[str | None] = mapped_column(String(1000))
    custom_15: Mapped[str | None] = mapped_column(String(1000))
    custom_16: Mapped[str | None] = mapped_column(String(1000))
    custom_17: Mapped[str | None] = mapped_column(String(1000))
    custom_18: Mapped[str | None] = mapped_column(String(1000))
    custom_19: Mapped[str | None] = mapped_column(String(1000))
    custom_20: Mapped[str | None] = mapped_column(String(1000))


class WorkItemTransition(IdMixin, ChildOfFactMixin, TimestampMixin, Base):
    """One status change, replaced together with its work item."""

    __tablename__ = "work_item_transitions"
    __table_args__ = (UniqueConstraint("work_item_id", "seq"),)

    work_item_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("work_items.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer)
    history_id: Mapped[str | None] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(200))
    to_status: Mapped[str] = mapped_column(String(200))
    from_step: Mapped[str | None] = mapped_column(String(100))
    to_step: Mapped[str | None] = mapped_column(String(100))
    entered_from_at: Mapped[datetime] = mapped_column(UTCDateTime())
    transitioned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seconds_in_from_status: Mapped[int] = mapped_column(BigInteger)
    author: Mapped[str | None] = mapped_column(String(300))


class Sprint(IdMixin, IntegrationMixin, VersionedMixin, TimestampMixin, Base):
    __tablename__ = "sprints"
    __table_args__ = (
        UniqueConstraint("tenant_id", "integration_id", "external_id", name="uq_sprints_key"),
    )

    external_id: Mapped[str] = mapped_column(String(100))
    board_external_id: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))
    state: Mapped[str | None] = mapped_column(String(32))
    goal: Mapped[str | None] = mapped_column(Text)
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    complete_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WorkItemSprint(IdMixin, ChildOfFactMixin, TimestampMixin, Base):
    __tablename__ = "work_item_sprints"
    __table_args__ = (UniqueConstraint("work_item_id", "sprint_external_id"),)

    work_item_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("work_items.id", ondelete="CASCADE")
    )
    sprint_external_id: Mapped[str] = mapped_column(String(100), index=True)
    added_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PullRequest(IdMixin, IntegrationMixin, LoadedFactMixin, TimestampMixin, Base):
    __tablename__ = "pull_requests"
    __table_args__ = (
        UniqueConstraint("tenant_id", "integration_id", "external_id", name="uq_pull_requests_key"),
        Index("ix_pull_requests_repo_number", "tenant_id", "repository_full_name", "number"),
        Index("ix_pull_requests_tenant_updated", "tenant_id", "source_updated_at"),
        Index("ix_pull_requests_tenant_run", "tenant_id", "last_job_run_id"),
        *trigram_indexes("pull_requests", "title", "repository_full_name"),
    )

    external_id: Mapped[str] = mapped_column(String(100))  # GraphQL node id
    database_id: Mapped[int | None] = mapped_column(BigInteger)
    repository_external_id: Mapped[str | None] = mapped_column(String(100))
    repository_full_name: Mapped[str] = mapped_column(String(400))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(500))
    author: Mapped[str | None] = mapped_column(String(200))
    merged_by: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))  # open | closed | merged
    is_draft: Mapped[bool] = mapped_column(Boolean, default=False)
    head_ref: Mapped[str | None] = mapped_column(String(500))
    base_ref: Mapped[str | None] = mapped_column(String(500))
    source_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_review_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    merged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    additions: Mapped[int | None] = mapped_column(Integer)
    deletions: Mapped[int | None] = mapped_column(Integer)
    changed_files: Mapped[int | None] = mapped_column(Integer)
    commit_count: Mapped[int] = mapped_column(Integer, default=0)
    review_count: Mapped[int] = mapped_column(Integer, default=0)
    review_cycles: Mapped[int] = mapped_column(Integer, default=0)
    reviewer_count: Mapped[int] = mapped_column(Integer, default=0)
    comment_count: Mapped[int] = mapped_column(Integer, default=0)
    review_comment_count: Mapped[int] = mapped_column(Integer, default=0)


class _PullRequestChild(IdMixin, ChildOfFactMixin, TimestampMixin):
    pull_request_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("pull_requests.id", ondelete="CASCADE")
    )


class PrCommit(_PullRequestChild, Base):
    __tablename__ = "pr_commits"
    __table_args__ = (UniqueConstraint("pull_request_id", "sha"),)

    sha: Mapped[str] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    author_name: Mapped[str | None] = mapped_column(String(300))
    author_email: Mapped[str | None] = mapped_column(String(320))
    author_login: Mapped[str | None] = mapped_column(String(200))
    authored_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    additions: Mapped[int | None] = mapped_column(Integer)
    deletions: Mapped[int | None] = mapped_column(Integer)


class PrReview(_PullRequestChild, Base):
    __tablename__ = "pr_reviews"
    __table_args__ = (UniqueConstraint("pull_request_id", "external_id"),)

    external_id: Mapped[str] = mapped_column(String(100))
    author: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(32))
    body: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PrComment(_PullRequestChild, Base):
    __tablename__ = "pr_comments"
    __table_args__ = (UniqueConstraint("pull_request_id", "external_id"),)

    external_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # conversation | review
    author: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(String(1000))
    line: Mapped[int | None] = mapped_column(Integer)
    source_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WorkItemPrLink(IdMixin, IntegrationMixin, VersionedMixin, TimestampMixin, Base):
    """A work item ↔ pull request link, keyed by issue key and repository + PR number so that
    it joins Jira and GitHub data without depending on load order. `integration_id` is the
    integration the link was found in; `link_source` says how."""

    __tablename__ = "work_item_pr_links"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id",
            "integration_id",
            "work_item_key",
            "repository_full_name",
            "pr_number",
            "link_source",
            name="uq_work_item_pr_links_key",
        ),
        Index("ix_work_item_pr_links_pr", "tenant_id", "repository_full_name", "pr_number"),
    )

    work_item_key: Mapped[str] = mapped_column(String(100))
    repository_full_name: Mapped[str] = mapped_column(String(400))
    pr_number: Mapped[int] = mapped_column(Integer)
    link_source: Mapped[str] = mapped_column(String(16))  # jira_dev | title | branch
    pr_status: Mapped[str | None] = mapped_column(String(32))
    url: Mapped[str | None] = mapped_column(String(500))
