"""Jira Cloud and Server/DC: settings, HTTP client, streams and deletion sweep."""

from __future__ import annotations

from connectors.jira.build import build_streams, test_connection
from connectors.jira.catalog_streams import (
    BoardStream,
    FieldStream,
    IssueTypeStream,
    ProjectStream,
    SprintStream,
    StatusStream,
)
from connectors.jira.changelog import is_truncated, merge_changelog
from connectors.jira.client import JiraApi, jira_http_client, jira_label
from connectors.jira.fields import STANDARD_FIELDS, FieldRoles, resolve_field_roles
from connectors.jira.issue_streams import (
    DevStatusStream,
    IssueIdStream,
    IssueStream,
    issue_item,
    issue_scope,
)
from connectors.jira.jql import build_jql, format_jql_datetime
from connectors.jira.settings import JiraCredentials, JiraSettings
from connectors.jira.site import JiraSite, discover_site
from connectors.reconcile import jira_deleted_issue_ids

__all__ = [
    "STANDARD_FIELDS",
    "BoardStream",
    "DevStatusStream",
    "FieldRoles",
    "FieldStream",
    "IssueIdStream",
    "IssueStream",
    "IssueTypeStream",
    "JiraApi",
    "JiraCredentials",
    "JiraSettings",
    "JiraSite",
    "ProjectStream",
    "SprintStream",
    "StatusStream",
    "build_jql",
    "build_streams",
    "discover_site",
    "format_jql_datetime",
    "is_truncated",
    "issue_item",
    "issue_scope",
    "jira_deleted_issue_ids",
    "jira_http_client",
    "jira_label",
    "merge_changelog",
    "resolve_field_roles",
    "test_connection",
]
